"""The back office on PostgreSQL with the vault's key store in a database and role of its own (``keys_db_url``),
and the whole app on it: an exception sealed, exported and erased through the API (issue #24 increment 4)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from backoffice._config import ConfigError
from backoffice._privacy import PrivacyGateway
from backoffice._store import Store
from privacy import FileKek
from privacy._retention import PURGE_LOCK
from storage import DatabaseUnavailableError, open_engine, session_lock
from tests.backoffice.conftest import build_world, exception_body, make_config


@pytest.fixture()
def pg_store(postgres_db):
    store = Store(postgres_db)
    yield store
    store.close()


@pytest.fixture()
def kek_file(tmp_path):
    path = tmp_path / "keys" / "kek"
    FileKek.generate(path)
    return path


def test_a_postgresql_back_office_names_what_its_key_store_needs(pg_store, postgres_db, kek_file):
    with pytest.raises(ConfigError, match="keys_db_url is required"):
        PrivacyGateway.from_config(make_config(kek_file=kek_file, kek=None), pg_store)
    with pytest.raises(ConfigError, match="other than the data's"):  # the data's own database: refused
        PrivacyGateway.from_config(make_config(kek_file=kek_file, kek=None, keys_db_url=postgres_db), pg_store)
    with pytest.raises(ConfigError, match="needs a kek_file"):  # an inline KEK cannot rotate after a shred
        PrivacyGateway.from_config(make_config(keys_db_url=postgres_db), pg_store)


def test_the_key_store_is_a_database_the_data_role_cannot_reach(pg_store, postgres_db, postgres_keys_db, kek_file):
    gw = PrivacyGateway.from_config(make_config(kek_file=kek_file, kek=None, keys_db_url=postgres_keys_db), pg_store)
    try:
        ref = gw.seal("subj-a", "exception_record", b"{}", actor="user:a", role="border_guard",
                      purpose="border_exception_review", record="exc-1")
        assert pg_store.one(text("SELECT count(*) AS n FROM retention_items WHERE ref = :r"), {"r": ref}) == {"n": 1}
        assert gw.vault.db.one(text("SELECT count(*) AS n FROM vault_keys")) == {"n": 1}
        assert pg_store.one(text("SELECT to_regclass('vault_keys') IS NOT NULL AS t")) == {"t": True}
        assert pg_store.one(text("SELECT count(*) AS n FROM vault_keys")) == {"n": 0}  # the data's copy stays empty
        data, keys = pg_store.engine.url, gw.vault.db.engine.url
        with pytest.raises(DatabaseUnavailableError):  # the data's role has no CONNECT on the key store
            open_engine(keys.set(username=data.username, password=data.password))
    finally:
        gw.vault.db.close()


def test_the_app_on_postgresql_seals_exports_and_erases(pg_store, postgres_keys_db, kek_file):
    world = build_world(make_config(kek_file=kek_file, kek=None, keys_db_url=postgres_keys_db), store=pg_store)
    try:
        r = world.client.post("/api/v1/exceptions", json=exception_body(),
                              headers=world.h("gate", **{"Idempotency-Key": "pg-1"}))
        assert r.status_code == 201, r.text
        exc_id, c, po = r.json()["id"], world.client, world.h("privacy_officer")
        assert r.headers.get("X-Ledger-Head")  # the ledger on PostgreSQL signed a head
        subject = {"document_number": "C1234567", "issuing_state": "VNM", "purpose": "subject_access_request"}
        export = c.post("/api/v1/privacy/subjects/export", json=subject, headers=po).json()
        assert sorted(i["category"] for i in export["items"]) == ["chip_image", "exception_record", "live_image"]
        kek_before = kek_file.read_bytes()
        erased = c.post("/api/v1/privacy/subjects/erase", json={**subject, "purpose": "erasure request"},
                        headers=po).json()
        assert erased["key_shredded"] and erased["records"]["exceptions"] == 1 and erased["wal_truncated"] is True
        assert kek_file.read_bytes() != kek_before  # the KEK rotated: the erased keys' old wrapping is dead
        detail = c.get(f"/api/v1/exceptions/{exc_id}", headers=world.h("border_guard")).json()
        assert detail["document"] is None
        assert c.get("/api/v1/privacy/ledger/verify", headers=po).json()["ok"]
        with session_lock(pg_store.engine, PURGE_LOCK):  # another worker's purge is running
            busy = c.post("/api/v1/privacy/purge?dry_run=false", headers=po)
        assert busy.status_code == 409 and "privacy.retention.purge" in busy.json()["detail"], busy.text
        assert c.post("/api/v1/privacy/purge?dry_run=false", headers=po).status_code == 200
    finally:
        world.client.close()
        world.app.state.ctx.privacy.vault.db.close()
