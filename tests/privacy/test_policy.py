"""The retention rules in words (vi/zh/en) from the fields the purge computes with, and their legal basis."""

from dataclasses import replace

import pytest

from privacy import DEFAULT_POLICIES, Period, RetentionError, RetentionPolicy

LANGS = ("vi", "zh", "en")


def test_the_compact_rule_of_the_retention_report_is_unchanged():
    assert DEFAULT_POLICIES["enrolment_record"].describe() == "3 years after last exit (else 5 years after created)"
    assert DEFAULT_POLICIES["exception"].describe() == "30 days after resolved"


def test_the_enrolment_rule_as_a_sentence_in_each_language():
    p = DEFAULT_POLICIES["enrolment_record"]
    assert p.describe("en") == ("Kept for 3 years after your last recorded exit; if no exit is recorded, kept for "
                                "5 years after collection.")
    assert p.describe("vi") == ("Lưu giữ 3 năm kể từ lần xuất cảnh cuối cùng được ghi nhận của bạn; nếu không có lần "
                                "xuất cảnh nào được ghi nhận, lưu giữ 5 năm kể từ khi thu thập.")
    assert p.describe("zh") == "自您最后一次有记录的出境之日起保存3年；如无出境记录，自采集之日起保存5年。"
    for lang in LANGS:
        assert p.rule_text(lang) == p.describe(lang)
    assert p.rule_text() == p.describe("en")
    # the templates follow the same rule, so say the same
    assert DEFAULT_POLICIES["template"].rule == p.rule
    assert all(DEFAULT_POLICIES["template"].describe(lang) == p.describe(lang) for lang in LANGS)


def test_the_sentence_follows_the_fields_not_a_fixed_text():
    p = DEFAULT_POLICIES["enrolment_record"]
    q = replace(p, keep=Period(years=2), fallback_keep=Period(years=4, days=10))
    assert "2 years" in q.describe("en") and "4 years and 10 days" in q.describe("en")
    assert "2 năm" in q.describe("vi") and "4 năm 10 ngày" in q.describe("vi")
    assert "保存2年" in q.describe("zh") and "保存4年10天" in q.describe("zh")
    for lang in LANGS:
        assert q.describe(lang) != p.describe(lang)
    one = RetentionPolicy("x", "created", Period(years=1))
    assert one.describe("en") == "Kept for 1 year after collection."
    assert "five" not in p.describe("en").lower() and "delete" not in p.describe("en").lower()


def test_every_default_rule_has_a_sentence_in_each_language():
    for policy in DEFAULT_POLICIES.values():
        for lang in LANGS:
            text = policy.describe(lang)
            assert text and text[-1] in ".。", (policy.category, lang)
            assert "{" not in text and "None" not in text
    live = DEFAULT_POLICIES["live_image"].describe("en")
    assert live.startswith("Kept until the end of the border crossing") and "then for 30 days" in live


def test_an_unknown_language_is_refused():
    with pytest.raises(RetentionError):
        DEFAULT_POLICIES["template"].describe("fr")


def test_each_category_states_its_basis_eu_and_vietnam():
    for policy in DEFAULT_POLICIES.values():
        assert policy.reference and policy.vn_reference.startswith("Decree 13/2023/ND-CP"), policy.category
        assert policy.basis == "; ".join(policy.legal_bases) and policy.vn_reference in policy.basis
    template = DEFAULT_POLICIES["template"]
    assert template.legal_bases[0].startswith("Reg. (EU) 2017/2226 Art. 34")
    assert "Art. 2(4)(đ)" in template.basis and "sensitive" in template.basis  # biometric: sensitive personal data
    assert "Art. 2(3)" in DEFAULT_POLICIES["enrolment_record"].basis  # names, birth date, passport number: basic
    assert RetentionPolicy("x", "created", Period(days=1)).basis == ""
