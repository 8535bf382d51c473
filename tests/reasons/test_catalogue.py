"""The reason-code catalogue: every code in words in every language, the severities, the gate's explanations."""

import datetime as dt
import re

import pytest

import reasons
from reasons import CODES, describe, explain, severity, traveller_text
from reasons._catalogue import _TABLE

LANGS = ("vi", "en", "zh")
FRAUD = ("chip_cloned", "chip_pa_failed", "chip_aa_failed", "chip_ca_failed", "mrz_mismatch", "liveness_failed")


def test_public_surface():
    assert set(reasons.__all__) == {"CODES", "LANGUAGES", "describe", "traveller_text", "severity", "explain"}
    assert isinstance(CODES, tuple) and len(CODES) == len(set(CODES))
    assert all(re.fullmatch(r"[a-z][a-z_]*[a-z]", c) for c in CODES)


def test_codes_cover_the_gate_the_back_office_the_enrolment_and_the_fraud_codes():
    from backoffice.schemas import ReasonCode as BackofficeReason
    from enrollment._workflow import EVENT_REASON_CODES
    from gate._policy import ReasonCode as GateReason

    emitted = {c.value for c in GateReason} | {c.value for c in BackofficeReason} | set(EVENT_REASON_CODES)
    emitted |= {"chip_aa_failed", "chip_ca_failed", "chip_cloned", "chip_pa_failed", "duplicate_enrolment",
                "document_unreadable", "consent_refused"}
    assert emitted <= set(CODES), emitted - set(CODES)


def test_codes_cover_the_enrolment_workflows_referral_reasons():
    """Every literal reason the enrolment workflow ends a session with or refuses a document for."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "enrollment"
    text = "\n".join(p.read_text(encoding="utf-8") for p in root.glob("*.py"))
    used = set(re.findall(r'DocumentRejected\("([a-z_]+)"', text))
    used |= set(re.findall(r'Outcome\.[A-Z_]+, "([a-z_]+)"\)', text))
    used |= set(re.findall(r'_face_attempt_failed\("([a-z_]+)"\)', text))
    used |= set(re.findall(r'"(?:passive|active|chip)_authentication": "([a-z_]+)"', text))
    assert {"chip_pa_failed", "mrz_mismatch", "document_expired", "chip_cloned", "timeout"} <= used
    assert used <= set(CODES), used - set(CODES)


@pytest.mark.parametrize("lang", LANGS)
def test_every_code_has_its_own_words_in_every_language(lang):
    for code in CODES:
        severity_, guard, traveller = _TABLE[code]
        assert guard[lang].strip(), (code, lang)  # no fallback: the language's own entry
        assert describe(code, lang) == guard[lang]
        assert describe(code, lang) != code.replace("_", " ")
        text = traveller_text(code, lang)
        assert text.strip() and "_" not in text
        if traveller is not None:
            assert traveller[lang].strip() and traveller[lang] in text, (code, lang)


def test_languages_are_really_different():
    for code in CODES:
        assert len({describe(code, lang) for lang in LANGS}) == 3, code
        assert len({traveller_text(code, lang) for lang in LANGS}) == 3, code
    assert all(re.search(r"[\u4e00-\u9fff]", describe(c, "zh")) for c in CODES)
    assert all(re.search(r"[\u4e00-\u9fff]", traveller_text(c, "zh")) for c in CODES)


def test_describe_examples_and_fallbacks():
    assert describe("face_mismatch", "en") == "Face does not match the chip photo"
    assert describe("face_mismatch", "vi") == "Khuôn mặt không khớp ảnh trong chip"
    assert describe("face_mismatch", "zh") == "人脸与芯片照片不匹配"
    assert describe("some_new_code", "vi") == "some new code"  # never raises
    assert describe("face_mismatch", "fr") == describe("face_mismatch", "en")
    assert traveller_text("face_mismatch", "de") == traveller_text("face_mismatch", "en")


def test_traveller_text_is_polite_neutral_and_says_where_to_go():
    for code in CODES:
        en = traveller_text(code, "en").lower()
        assert "staffed desk beside the gates" in en, code
        for word in ("watchlist", "forged", "forgery", "fraud", "clone", "attack", "suspect", "fake", "stolen"):
            assert word not in en, (code, word)
        vi = traveller_text(code, "vi").lower()
        assert "quầy có cán bộ" in vi and "danh sách theo dõi" not in vi and "giả mạo" not in vi, code
        zh = traveller_text(code, "zh")
        assert "人工柜台" in zh and "监控" not in zh and "伪造" not in zh and "克隆" not in zh, code
    neutral = traveller_text("watchlist_hit", "en")
    assert neutral.startswith("Please see an officer for a manual check")
    for code in ("chip_cloned", "chip_pa_failed", "chip_aa_failed", "chip_ca_failed", "mrz_mismatch"):
        for lang in LANGS:
            assert traveller_text(code, lang) == traveller_text("watchlist_hit", lang)
    # an unknown code gets the neutral text, never raises
    assert traveller_text("brand_new", "zh") == traveller_text("watchlist_hit", "zh")


def test_severity():
    assert severity("watchlist_hit") == 0
    for code in FRAUD:
        assert severity(code) == 1, code
    # identity doubt, and the checks that could not be made (a stale watchlist copy could hide a hit)
    doubt = ("face_mismatch", "fingerprint_mismatch", "duplicate_enrolment", "tailgating", "watchlist_stale",
             "evidence_missing")
    for code in doubt:
        assert severity(code) == 2, code
    for code in set(CODES) - {"watchlist_hit", *FRAUD, *doubt}:
        assert severity(code) == 3, code
    assert severity("never_heard_of") == 3
    assert sorted(["timeout", "face_mismatch", "watchlist_hit", "chip_cloned"], key=severity) == [
        "watchlist_hit", "chip_cloned", "face_mismatch", "timeout"]


# -- the gate's explanations --------------------------------------------------------------------------------

def test_explain_a_detail():
    assert explain("face score 0.788 below threshold 0.933", "vi") == "điểm khuôn mặt 0,788 dưới ngưỡng 0,933"
    assert explain("face score 0.788 below threshold 0.933", "en") == "face score 0.788 below threshold 0.933"
    assert explain("fingerprint score 0.100 below threshold 0.400", "vi") == "điểm vân tay 0,100 dưới ngưỡng 0,400"
    assert explain("expired on 2024-03-01", "vi") == "hết hạn ngày 01/03/2024"
    assert explain("2 persons in the lane", "vi") == "2 người trong làn"
    assert explain("step face timed out", "vi") == "bước khuôn mặt quá thời gian"
    assert explain("step lane_sensor failed (device or engine fault)", "vi") == \
        "bước cảm biến làn thất bại (lỗi thiết bị hoặc phần mềm xử lý)"
    assert explain("watchlist copy is 30.5 h old (limit 24.0 h)", "vi") == \
        "bản sao danh sách theo dõi đã cũ 30,5 giờ (giới hạn 24,0 giờ)"


def test_explain_leaves_the_unknown_alone():
    for text in ("", "something the gate never says", "refer", "open: something else", "3.5 apples"):
        assert explain(text, "vi") == text
        assert explain(text, "en") == text


def test_explain_a_referral_line():
    line = ("refer: face_mismatch (face score 0.788 below threshold 0.933); "
            "watchlist_hit (WL-1; WL-2) [liveness: timeout: blink]")
    assert explain(line, "vi") == (
        "Chuyển kiểm tra thủ công: Khuôn mặt không khớp ảnh trong chip (điểm khuôn mặt 0,788 dưới ngưỡng 0,933); "
        "Trùng danh sách theo dõi (WL-1; WL-2) [người thật: timeout: blink]")
    assert explain(line, "en") == (
        "Referred: Face does not match the chip photo (face score 0.788 below threshold 0.933); "
        "Watchlist hit (WL-1; WL-2) [liveness: timeout: blink]")
    assert explain("refer: brand_new (who knows)", "en") == "Referred: brand new (who knows)"


def test_explain_an_open_line():
    assert explain("open: all 17 required checks passed (not required: liveness, fingerprint_match)", "vi") == \
        "Mở cổng: đạt cả 17 bước kiểm tra bắt buộc (không bắt buộc: kiểm tra người thật, so khớp vân tay)"
    assert explain("open: all 18 required checks passed", "en") == "Opened: all 18 required checks passed"


def _gate_lines():
    """Real explanations of the gate's decision policy, over evidence built to fail each rule."""
    from gate._policy import Evidence, PolicyConfig, decide

    today = dt.date(2026, 12, 6)
    base = dict(today=today, document_type="P", issuing_state="VNM", date_of_birth=dt.date(1990, 1, 1),
                date_of_expiry=dt.date(2030, 1, 1))
    variants = [
        {},
        dict(chip_read=False, chip_error="chip could not be read"),
        dict(chip_read=True, face_acquired=True, face_score=0.788, face_threshold=0.933, liveness_passed=False,
             date_of_expiry=dt.date(2020, 1, 1), date_of_birth=dt.date(2015, 1, 1), persons_in_lane=3,
             watchlist_age_s=200_000.0),
        dict(document_type=None),
        dict(timed_out_step="face"),
        dict(chip_read=True, pa_passed=True, csca_chain=True, dsc_revocation=None, crl_stale=True),
        dict(chip_read=True, aa_offered=True, aa_passed=None, aa_code="ec_parameters_unknown_curve", ca_offered=True,
             ca_passed=None, ca_code="ec_parameters_unknown_curve"),
    ]
    lines = []
    for v in variants:
        try:
            lines.append(decide(Evidence(**{**base, **v}), PolicyConfig()).explain())
        except TypeError:  # an Evidence field renamed: that variant is skipped, the others still count
            continue
    return lines


def test_explain_renders_the_gates_real_lines_in_vietnamese():
    lines = _gate_lines()
    assert lines
    codes = "|".join(CODES)
    for line in lines:
        vi = explain(line, "vi")
        assert vi != line, line
        assert vi.startswith("Chuyển kiểm tra thủ công: ") or vi.startswith("Mở cổng: ")
        assert not re.search(rf"(?:^|: |; )({codes}) \(", vi), vi  # every finding's code in words
        # every detail of every finding was recognised: no English phrase of the gate survives
        for phrase in ("below threshold", "not read", "not checked", "persons in the lane", "expired on",
                       "not obtained", "timed out", "unknown"):
            assert phrase not in vi, (phrase, vi)
        en = explain(line, "en")
        assert not re.search(rf"(?:^|: |; )({codes}) \(", en), en
        assert not re.search(r"\b(passive_authentication|data_groups|mrz_matches_chip|fingerprint_match): ", en), en


def test_the_package_is_pure():
    """Standard library only: both the back office and the kiosk import it."""
    from pathlib import Path

    root = Path(reasons.__file__).parent
    for path in root.glob("*.py"):
        for m in re.finditer(r"^\s*(?:from|import) ([a-zA-Z_][\w]*)", path.read_text(encoding="utf-8"), re.M):
            assert m[1] in {"__future__", "re", "collections", "reasons"}, (path.name, m[1])
