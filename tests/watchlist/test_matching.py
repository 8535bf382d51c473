import datetime as dt

import pytest

from watchlist import (
    DocumentEntry,
    PersonEntry,
    PersonQuery,
    WatchlistError,
    WatchlistIndex,
    fold_latin,
    match_person,
    normalize_document_number,
    normalize_pinyin,
    parse_partial_date,
)


def test_fold_vietnamese_including_d_stroke():
    assert fold_latin("Nguyễn Văn Đức") == "nguyen van duc"
    assert fold_latin("ĐẶNG thị Ánh") == "dang thi anh"
    assert fold_latin("NGUYEN<<VAN<DUC") == "nguyen van duc"
    assert fold_latin("Trần-Lê, Phương") == "tran le phuong"


def test_pinyin_tones_spaces_and_u_umlaut():
    assert normalize_pinyin("Zhāng Wěi") == "zhangwei"
    assert normalize_pinyin("zhang1 wei3") == "zhangwei"
    assert normalize_pinyin("Lǚ Xiǎo-míng") == normalize_pinyin("LV XIAOMING") == "luxiaoming"
    assert normalize_pinyin("Xi'an") == "xian"


def test_document_number_normalisation():
    assert normalize_document_number(" c 1234-567< ") == "C1234567"
    with pytest.raises(WatchlistError):
        DocumentEntry("d", "  <<  ")
    with pytest.raises(WatchlistError):
        DocumentEntry("d", "AB#12")


def test_partial_dates():
    assert parse_partial_date("1980") == (1980, None, None)
    assert parse_partial_date("1980-05") == (1980, 5, None)
    assert parse_partial_date(dt.date(1980, 5, 17)) == (1980, 5, 17)
    for bad in ("1980-13-01", "abc", "1980-02-30", "1-2-3-4"):
        with pytest.raises(WatchlistError):
            parse_partial_date(bad)


def test_entry_and_query_need_a_name():
    with pytest.raises(WatchlistError):
        PersonEntry("p", ("  ",))
    with pytest.raises(WatchlistError):
        PersonQuery("<<<")


@pytest.fixture()
def index():
    ix = WatchlistIndex()
    ix.upsert(PersonEntry("vn1", ("Nguyễn Văn Đức",), date_of_birth="1980-05-17", nationality="VNM"))
    ix.upsert(PersonEntry("vn2", ("Nguyễn Văn Bình",), date_of_birth="1980-05-17", nationality="VNM"))
    ix.upsert(PersonEntry("cn1", (), name_hanzi="张伟", name_pinyin="Zhāng Wěi", date_of_birth="1975",
                          nationality="CHN"))
    ix.upsert(PersonEntry("cn2", ("LV XIAOMING",), name_hanzi="吕小明", name_pinyin="Lǚ Xiǎomíng"))
    ix.upsert(DocumentEntry("d1", "C1234567", "VNM", "P", "stolen"))
    ix.upsert(DocumentEntry("d2", "E00000001", None, "P", "lost"))
    return ix


def _best(matches):
    return matches[0] if matches else None


def test_exact_mrz_name_and_dob(index):
    m = _best(index.check(PersonQuery("NGUYEN<<VAN<DUC", "1980-05-17", "VNM")))
    assert m.entry_id == "vn1" and m.hit and m.score == 1.0
    assert m.reasons == ("name_exact", "dob_exact", "nationality_match")


def test_token_order_and_dob_window(index):
    m = _best(index.check(PersonQuery("DUC NGUYEN VAN", "1980-06-01")))
    assert m.entry_id == "vn1" and m.hit
    assert "name_token_order" in m.reasons and "dob_within_window:15d" in m.reasons


def test_dob_outside_window_is_not_a_hit(index):
    m = _best(index.check(PersonQuery("NGUYEN VAN DUC", "1990-01-01")))
    assert m is None or (not m.hit and any(r.startswith("dob_outside_window") for r in m.reasons))


def test_typo_is_a_fuzzy_hit_and_other_given_name_is_not(index):
    m = _best(index.check(PersonQuery("NGUEN VAN DUC", "1980-05-17")))
    assert m.entry_id == "vn1" and m.hit and m.reasons[0] == "name_fuzzy"
    other = [x for x in index.check(PersonQuery("NGUYEN VAN AN", "1980-05-17")) if x.hit]
    assert other == []


def test_chinese_by_pinyin_and_by_hanzi(index):
    m = _best(index.check(PersonQuery("ZHANG<<WEI", "1975-03-02", "CHN")))
    assert m.entry_id == "cn1" and m.hit
    m = _best(index.check(PersonQuery("ZHANGWEI")))
    assert m.entry_id == "cn1" and "pinyin_match" in m.reasons
    m = _best(index.check(PersonQuery("WHATEVER", name_hanzi="张 伟")))
    assert m.entry_id == "cn1" and m.reasons[0] == "hanzi_exact"
    m = _best(index.check(PersonQuery("LU XIAOMING")))
    assert m.entry_id == "cn2" and m.hit


def test_nationality_differs_lowers_score(index):
    same = _best(index.check(PersonQuery("NGUYEN VAN DUC", "1980-05-17", "VNM")))
    other = _best(index.check(PersonQuery("NGUYEN VAN DUC", "1980-05-17", "CHN")))
    assert other.score < same.score and "nationality_differs" in other.reasons


def test_document_exact_with_state(index):
    hits = index.check_document("c1234567", "VNM")
    assert [h.entry_id for h in hits] == ["d1"] and hits[0].reasons[0] == "document_number_exact"
    assert index.check_document("C1234567", "CHN") == []
    assert [h.entry_id for h in index.check_document("E00000001", "CHN")] == ["d2"]
    assert index.check_document("C1234568") == []


def test_upsert_and_remove(index):
    assert len(index) == 6
    assert index.remove("d1") and index.check_document("C1234567") == []
    assert index.remove("vn1")
    assert all(m.entry_id != "vn1" for m in index.check(PersonQuery("NGUYEN VAN DUC", "1980-05-17")))
    assert not index.remove("nope")
    index.upsert(PersonEntry("vn2", ("Trần Thị Mai",)))  # replace
    assert _best(index.check(PersonQuery("TRAN THI MAI"))).entry_id == "vn2"
    assert len(index) == 4


def test_match_person_directly_missing_middle_name():
    e = PersonEntry("x", ("Nguyễn Văn Đức",), date_of_birth="1980-05-17")
    m = match_person(PersonQuery("NGUYEN DUC", "1980-05-17"), e)
    assert m.reasons[0] == "name_partial" and 0.75 < m.score < 1.0


def test_letters_unicode_does_not_decompose_fold_as_doc_9303_writes_them():
    from watchlist import fold_latin

    assert fold_latin("Søren Ærø") == "soeren aeroe"  # the MRZ of a Danish passport: SOEREN<<AEROE
    assert fold_latin("Łukasz Þórsson Ŋ") == "lukasz thorsson n"
    assert fold_latin("Nguyễn Văn Đức") == "nguyen van duc"


def test_the_usable_letter_class_is_exactly_what_folding_keeps():
    """Every character of LATIN_LETTER_CLASS (the schema's rule for a usable name) gives a token, and no
    other character of the Latin blocks does: the API's pattern and the matcher agree by construction."""
    import re

    from watchlist import LATIN_LETTER_CLASS, tokens

    cls = re.compile(f"[{LATIN_LETTER_CLASS}]")
    for cp in list(range(0x20, 0x250)) + list(range(0x1E00, 0x1F00)):
        ch = chr(cp)
        assert bool(cls.fullmatch(ch)) == (bool(tokens(ch)) and not ch.isdigit()), (hex(cp), ch)
    assert not cls.search("0123 <<< - ×÷ 张伟")
