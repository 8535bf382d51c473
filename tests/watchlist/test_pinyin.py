"""Hanzi -> pinyin (pypinyin), rapidfuzz edit distance, expiry and near misses in the domain matcher."""

import datetime as dt

import pytest

from watchlist import (
    DocumentEntry,
    PersonEntry,
    PersonQuery,
    WatchlistError,
    WatchlistIndex,
    match_person,
    name_similarity,
    pinyin_spellings,
)


def _best(matches):
    return max(matches, key=lambda m: m.score) if matches else None


def test_spellings_surname_first_toneless_u_for_umlaut():
    assert pinyin_spellings("张伟") == (("zhang", "wei"),)
    assert pinyin_spellings("张 伟") == (("zhang", "wei"),)
    assert pinyin_spellings("吕小明") == (("lyu", "xiaoming"), ("lu", "xiaoming"), ("lv", "xiaoming"))
    assert pinyin_spellings("欧阳娜娜") == (("ouyang", "nana"),)  # a two-character family name
    assert pinyin_spellings("ABC") == ()


def test_heteronym_surnames_read_as_surnames():
    assert pinyin_spellings("单伟")[0] == ("shan", "wei")  # not dan
    assert pinyin_spellings("曾伟")[0] == ("zeng", "wei")  # not ceng
    assert pinyin_spellings("解伟")[0] == ("xie", "wei")  # not jie
    # a one-character given name with two readings keeps both (pypinyin heteronym=True)
    assert {("zeng", "le"), ("zeng", "yue")} <= set(pinyin_spellings("曾乐"))


@pytest.fixture
def index():
    ix = WatchlistIndex()
    ix.extend([
        PersonEntry("zw", (), name_hanzi="张伟", nationality="CHN", reason="hanzi only"),
        PersonEntry("sw", (), name_hanzi="单伟"),
        PersonEntry("lx", (), name_hanzi="吕小明", date_of_birth="1980-01-02"),
        PersonEntry("latin", ("WANG XIAOMING",)),
    ])
    return ix


@pytest.mark.parametrize("name", ["ZHANG<<WEI", "ZHANG WEI", "WEI ZHANG", "zhang wei", "Zhāng Wěi", "ZHANGWEI"])
def test_hanzi_only_entry_matches_the_mrz_pinyin(index, name):
    m = _best(index.check(PersonQuery(name, nationality="CHN")))
    assert m is not None and m.entry_id == "zw" and m.hit and m.band == "hit"
    assert m.reasons[0] in ("pinyin_match",)


def test_surname_reading_of_a_heteronym(index):
    assert _best(index.check(PersonQuery("SHAN<<WEI"))).entry_id == "sw"
    assert not any(m.entry_id == "sw" and m.hit for m in index.check(PersonQuery("DAN<<WEI")))


def test_lv_and_lu_and_given_name_split(index):
    for name in ("LYU<<XIAOMING", "LV<<XIAOMING", "LU<<XIAO<MING", "LU XIAO MING"):
        m = _best(index.check(PersonQuery(name, "1980-01-02")))
        assert m.entry_id == "lx" and m.hit, name


def test_hanzi_query_matches_a_latin_entry_by_pinyin(index):
    m = _best(index.check(PersonQuery("", name_hanzi="王小明")))
    assert m.entry_id == "latin" and m.hit and m.reasons[0] == "pinyin_match"


def test_fuzzy_pinyin_is_a_near_miss_or_lower_not_a_hit():
    e = PersonEntry("zw", (), name_hanzi="张伟")
    m = match_person(PersonQuery("ZHANG WEN"), e)
    assert not m.hit and m.reasons[0].startswith("pinyin_")


def test_rapidfuzz_similarity_unchanged_on_known_pairs():
    assert name_similarity(["nguyen", "van", "duc"], ["nguyen", "van", "duc"]) == (1.0, "name_exact")
    s, r = name_similarity(["nguyen", "van", "duk"], ["nguyen", "van", "duc"])
    assert r == "name_fuzzy" and 0.9 < s < 1.0


def test_near_miss_band_between_near_and_hit_threshold():
    e = PersonEntry("a", ("NGUYEN VAN DUC",), date_of_birth="1980-05-17", nationality="VNM")
    hit = match_person(PersonQuery("NGUYEN VAN DUC", "1980-05-17"), e)
    assert hit.hit and not hit.near and hit.band == "hit"
    near = match_person(PersonQuery("NGUYEN VAN DUC", None, "USA"), e)  # 0.92 (no DOB) x 0.9 (nationality)
    assert 0.7 <= near.score < 0.85
    assert not near.hit and near.near and set(near.to_dict()) == {"entry_id", "kind", "score", "reasons", "hit"} and near.band == "near_miss"
    low = match_person(PersonQuery("NGUYEN VAN DUC", "1990-05-17"), e)  # DOB far outside the window: 0.6
    assert low.band == "low" and not low.near


def test_expired_entries_no_longer_match():
    ix = WatchlistIndex()
    ix.upsert(PersonEntry("p", ("TRAN VAN AN",), expires_on="2026-01-31"))
    ix.upsert(DocumentEntry("d", "C1234567", "VNM", expires_on=dt.date(2026, 1, 31)))
    q = PersonQuery("TRAN VAN AN", document_number="C1234567", issuing_state="VNM")
    assert {m.entry_id for m in ix.check(q, today=dt.date(2026, 1, 31))} == {"p", "d"}  # in force on its last day
    assert ix.check(q, today=dt.date(2026, 2, 1)) == []
    with pytest.raises(WatchlistError):
        PersonEntry("x", ("A B",), expires_on="31/01/2026")


def test_index_remove_a_hanzi_only_entry(index):
    assert index.remove("zw")
    assert not any(m.entry_id == "zw" for m in index.check(PersonQuery("ZHANG WEI")))
