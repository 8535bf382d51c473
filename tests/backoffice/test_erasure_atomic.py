"""An erasure's ledger entry and the galleries' generation commit with the shred (issue #24 review: the
generation moved only in a second transaction, so a failure between the two left the erased subject's
templates in other processes' duplicate checks, which no longer noticed the commit by PRAGMA data_version)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import backoffice._privacy as privacy_module
from tests.backoffice.conftest import exception_body


def _generation(world) -> int:
    return int(world.ctx.store.one(text("SELECT generation FROM galleries_generation"))["generation"])


def _post_exception(world) -> str:
    r = world.client.post("/api/v1/exceptions", json=exception_body(),
                          headers=world.h("gate", **{"Idempotency-Key": "erase-1"}))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _ledgered(world) -> list[str]:
    return [e["action"] for e in world.client.get("/api/v1/privacy/ledger", headers=world.h("privacy_officer")).json()]


def test_a_failure_after_the_shred_still_ledgers_it_and_moves_the_galleries(world, monkeypatch):
    exc_id = _post_exception(world)
    subject_id = world.ctx.records.subject_id("VNM", "C1234567")
    gateway, generation = world.ctx.privacy, _generation(world)
    assert gateway.erasure_preview(subject_id)

    def broken(store, subject):  # the records' step fails after the erasure's transaction
        raise RuntimeError("disk full")

    monkeypatch.setattr(privacy_module, "forget_subject", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        gateway.erase_subject(subject_id, actor="test", role="privacy_officer", purpose="erasure request 2026-200")
    # the shred (its own key store) is ledgered, the items are gone and every process's galleries reload
    assert "erase_subject" in _ledgered(world)
    assert gateway.erasure_preview(subject_id) == {}
    assert _generation(world) == generation + 1
    detail = world.client.get(f"/api/v1/exceptions/{exc_id}", headers=world.h("border_guard")).json()
    assert detail["document"] is None  # the key is shredded: nothing personal opens
    # a retry finishes the records' step
    monkeypatch.undo()
    out = gateway.erase_subject(subject_id, actor="test", role="privacy_officer", purpose="erasure request 2026-200")
    assert out["records"]["exceptions"] == 1
    row = world.ctx.store.one(text("SELECT subject_id, personal_ref FROM exceptions WHERE id = :id"), {"id": exc_id})
    assert row == {"subject_id": "erased", "personal_ref": None}


def test_an_erasure_ledgers_the_shred_and_clears_the_records(world):
    exc_id = _post_exception(world)
    subject_id = world.ctx.records.subject_id("VNM", "C1234567")
    generation = _generation(world)
    out = world.ctx.privacy.erase_subject(subject_id, actor="test", role="privacy_officer",
                                          purpose="erasure request 2026-201")
    assert out["key_shredded"] and out["records"]["exceptions"] == 1
    assert _generation(world) > generation and "erase_subject" in _ledgered(world)
    row = world.ctx.store.one(text("SELECT subject_id, personal_ref FROM exceptions WHERE id = :id"), {"id": exc_id})
    assert row == {"subject_id": "erased", "personal_ref": None}
    assert world.ctx.privacy.erasure_preview(subject_id) == {}
