"""Consent first, minimal data, retention stated from the policies (issue #17 parts 4 and 5).

- The consent notice's retention sentence is the retention policies' own (privacy.RetentionPolicy.describe),
  in each language; a changed policy changes the sentence and the text version consents record.
- Against the kiosk's real composition (smartborder.compose.kiosk: its outbox and vault files, its key
  directory): a traveller who declines leaves nothing about them in any byte the kiosk stored, and the chip
  reader was never asked for anything.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from devices.sim import FixedMrzSource, SimulatedReader
from emrtd import parse_mrz
from enrollment import Step
from kiosk import ENROLMENT_CATEGORIES, LANGUAGES, ConsentNoticeError, catalogues, consent_notice
from privacy import DEFAULT_POLICIES, Period
from tests.enrollment.conftest import Script, SpyReader, issued, td3, trust_for

#: the magic numbers of the image formats a chip (DG2) or a camera gives: JPEG, JPEG 2000 (file, codestream), PNG
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51", b"\x89PNG\r\n\x1a\n")


def test_the_retention_sentence_is_the_policys_describe_in_each_language():
    notice = consent_notice()
    for lang in LANGUAGES:
        assert notice.retention_text(lang) == DEFAULT_POLICIES["enrolment_record"].describe(lang)
        assert notice.retention_text(lang) == DEFAULT_POLICIES["template"].describe(lang)  # one shared rule, said once
    assert "five" not in notice.retention_text("en").lower() and "Năm năm" not in notice.retention_text("vi")
    assert len(notice.text_version) <= 40 and notice.text_version.startswith(catalogues().text_version("en"))


def test_a_changed_policy_changes_the_sentence_and_the_text_version():
    before = consent_notice()
    policies = {**DEFAULT_POLICIES, "enrolment_record": replace(DEFAULT_POLICIES["enrolment_record"], keep=Period(years=2)),
                "template": replace(DEFAULT_POLICIES["template"], keep=Period(years=2))}
    after = consent_notice(policies)
    for lang in LANGUAGES:
        assert after.retention_text(lang) == policies["enrolment_record"].describe(lang) != before.retention_text(lang)
    assert "2 years" in after.retention_text("en") and "保存2年" in after.retention_text("zh")
    assert after.text_version != before.text_version
    assert consent_notice().text_version == before.text_version  # a version is the text's, reproducibly


def test_categories_with_different_rules_are_each_stated():
    policies = {**DEFAULT_POLICIES, "template": replace(DEFAULT_POLICIES["template"], keep=Period(years=1))}
    notice = consent_notice(policies)
    cats = catalogues()
    for lang in LANGUAGES:
        text = notice.retention_text(lang)
        for category in ENROLMENT_CATEGORIES:
            assert cats.t(f"consent.category.{category}", lang) in text and policies[category].describe(lang) in text


def test_no_policy_no_consent_notice():
    with pytest.raises(ConsentNoticeError, match="template"):
        consent_notice({"enrolment_record": DEFAULT_POLICIES["enrolment_record"]})


def _kiosk(tmp_path, reader, mrz_source, doc, **kw):
    from smartborder.compose.kiosk import KioskConfig, KioskDevices, build_kiosk

    config = KioskConfig(trust_path=None, env="dev", data_dir=tmp_path / "data", key_dir=tmp_path / "keys")
    devices = KioskDevices(camera=None, reader=reader, mrz_source=mrz_source, scanner=None)
    return build_kiosk(config, devices, trust=trust_for(doc), engines=Script().engines(), **kw)


def test_the_composition_hands_the_notice_to_the_app_and_the_version_to_the_workflow(tmp_path):
    from smartborder.compose.kiosk import KioskConfigError

    mrz = td3()
    doc = issued(mrz)
    kiosk = _kiosk(tmp_path, SimulatedReader(doc), FixedMrzSource(mrz), doc)
    assert kiosk.consent.retention_text("vi") == DEFAULT_POLICIES["enrolment_record"].describe("vi")
    assert kiosk.workflow.policy.consent_text_version == kiosk.consent.text_version
    shorter = {**DEFAULT_POLICIES, "enrolment_record": replace(DEFAULT_POLICIES["enrolment_record"], keep=Period(years=1))}
    other = _kiosk(tmp_path / "b", SimulatedReader(doc), FixedMrzSource(mrz), doc, retention=shorter)
    assert "1 year" in other.consent.retention_text("en") and other.consent.text_version != kiosk.consent.text_version
    with pytest.raises(KioskConfigError, match="retention policy"):
        _kiosk(tmp_path / "c", SimulatedReader(doc), FixedMrzSource(mrz), doc, retention={})
    kiosk.outbox.close()
    other.outbox.close()


def _stored_bytes(*roots) -> dict[str, bytes]:
    """Every byte of every file under ``roots`` (databases with their -wal/-shm/-journal, key files)."""
    files = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                files[str(p)] = p.read_bytes()
    return files


@pytest.mark.parametrize("how", ["decline", "walk away"])
def test_a_traveller_who_declines_leaves_nothing_stored(tmp_path, how):
    mrz = td3(number="C7654321", surname="PHAM", given="THI LAN")
    doc = issued(mrz)
    spy = SpyReader(SimulatedReader(doc))
    kiosk = _kiosk(tmp_path, spy, FixedMrzSource(mrz), doc)
    wf = kiosk.workflow
    wf.start("vi")
    assert wf.read_document().ok and wf.step is Step.CONSENT
    if how == "decline":
        wf.consent(False)
        assert wf.reason_code == "consent_refused"
    else:
        wf.abandon()
    assert wf.step is Step.ABANDONED and wf.session is None
    assert spy.calls == [] and spy.inner.apdu_count == 0  # the chip reader was never asked for anything
    assert kiosk.outbox.pending_count("event") == 1 and kiosk.outbox.pending_count("enrolment") == 0
    stored = _stored_bytes(tmp_path / "data", tmp_path / "keys")
    names = {p.rsplit("/", 1)[-1] for p in stored}
    # the kiosk's files are there (the outbox, its vault's key store, the KEK): the scan reads real files
    assert {"outbox.db", "kiosk.kek"} <= names and any(n.endswith("outbox-vault.db") for n in names)
    printed = parse_mrz(mrz)
    secrets = [b"C7654321", b"PHAM", b"THI LAN", b"THI<LAN", b"850314", mrz[:44].encode(), mrz[44:].encode(),
               printed.date_of_expiry_mrz.encode(), *IMAGE_MAGIC]
    for path, data in stored.items():
        for secret in secrets:
            assert secret not in data and secret.lower() not in data, (path, secret)
    kiosk.outbox.close()
    # the same scan finds what it looks for, had anything been written
    (tmp_path / "data" / "probe").write_bytes(b"..." + printed.document_number.encode() + b"...")
    assert any(b"C7654321" in data for data in _stored_bytes(tmp_path / "data").values())
