"""``ledger_public_key`` (top level, shared by gates and kiosks) pins the back office's ledger key on the device's
client, and the compositions wire the client to the outbox: every ledger head is kept as it arrives, not at the
next delivery round; a head the pinned key did not sign is never kept."""

from __future__ import annotations

import base64

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devicelink import LEDGER_HEAD_HEADER
from privacy import Checkpoint
from privacy._verify_export import checkpoint_message, key_id_of
from smartborder.settings import SettingsError, load_settings
from tests.conftest import REPO

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))
KEY_B64 = base64.b64encode(KEY.public_key().public_bytes_raw()).decode()
STRONG = "s" * 40
SECRETS = {"SMARTBORDER_SECRET_KEY": "k" * 40, "SMARTBORDER_KEK": "q" * 44, "SMARTBORDER_DEVICE_TOKEN": "t" * 40}
EVENT = {"occurred_at": "2026-11-22T08:00:00+07:00", "kind": "heartbeat", "outcome": "ok", "reason_codes": []}


def signed(seq: int, key=KEY) -> Checkpoint:
    h, at = "ab" * 32, "2026-03-01T08:00:00.000000Z"
    return Checkpoint(seq, h, at, key_id_of(key.public_key().public_bytes_raw()),
                      base64.b64encode(key.sign(checkpoint_message(seq, h, at))).decode())


def answering(heads: list[Checkpoint]) -> httpx.Client:
    """An HTTP client whose back office answers every request with the next head."""
    it = iter(heads)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"id": "x"}, headers={LEDGER_HEAD_HEADER: next(it).to_token()})

    return httpx.Client(base_url="http://bo", transport=httpx.MockTransport(handler))


def test_the_setting_is_read_from_the_file_and_the_environment_and_checked(tmp_path):
    assert load_settings(environ={}).ledger_public_key == ""
    for role in ("gate", "kiosk"):
        text = (REPO / "config" / f"{role}.example.toml").read_text()
        line = '# ledger_public_key = "<base64 from smartborder privacy public-key>"'
        assert line in text  # documented in the example, commented out
        toml = tmp_path / f"{role}.toml"
        toml.write_text(text.replace(line, f'ledger_public_key = "{KEY_B64}"'))
        assert load_settings(toml, environ=SECRETS).ledger_public_key == KEY_B64
    assert load_settings(environ={"SMARTBORDER_LEDGER_PUBLIC_KEY": KEY_B64}).ledger_public_key == KEY_B64
    for bad in ("not base64!", base64.b64encode(bytes(31)).decode(), "changeme"):
        with pytest.raises(SettingsError, match="ledger_public_key"):
            load_settings(environ={"SMARTBORDER_LEDGER_PUBLIC_KEY": bad})


def test_the_gate_keeps_each_head_as_it_arrives_and_only_those_the_key_signed(tmp_path):
    from smartborder.compose.gate import build_gate, gate_config
    from tests.smartborder.test_compose_gate import _devices, _trust_dir

    settings = load_settings(environ={}, data_dir=tmp_path / "data", key_dir=tmp_path / "keys", device_token=STRONG,
                             gate_trust=_trust_dir(tmp_path), ledger_public_key=KEY_B64)
    config = gate_config(settings)
    assert config.ledger_public_key == KEY_B64
    gate = build_gate(config, _devices())
    try:
        client, outbox = gate.client, gate.store.outbox
        assert client.on_ledger_head == outbox.keep_ledger_head
        client.http = answering([signed(3), signed(4, key=Ed25519PrivateKey.generate()), signed(5)])
        client.post_event(EVENT, "k1")
        assert gate.store.ledger_head() == signed(3)  # kept at once, no delivery round needed
        client.post_event(EVENT, "k2")
        client.post_event(EVENT, "k3")
        assert [k.head.seq for k in gate.store.ledger_heads()] == [3, 5] and client.ledger_heads_rejected == 1
    finally:
        gate.close()


def test_the_kiosk_keeps_each_head_as_it_arrives(tmp_path):
    from enrollment import Engines
    from smartborder.compose.kiosk import build_kiosk, kiosk_config
    from tests.smartborder.test_compose_kiosk import _devices

    settings = load_settings(environ={}, data_dir=tmp_path / "data", key_dir=tmp_path / "keys", device_token=STRONG,
                             ledger_public_key=KEY_B64)
    config = kiosk_config(settings, dev_without_passive_authentication=True)
    kiosk = build_kiosk(config, _devices(), engines=Engines(None, None, None, None))
    try:
        client = kiosk.submitter
        assert client.on_ledger_head == kiosk.outbox.keep_ledger_head
        client.http = answering([signed(8, key=Ed25519PrivateKey.generate()), signed(9)])
        client.post_event(EVENT, "k1")
        client.post_event(EVENT, "k2")
        assert [k.head.seq for k in kiosk.outbox.ledger_heads()] == [9] and client.ledger_heads_rejected == 1
    finally:
        kiosk.close()
        kiosk.outbox.close()


def test_a_bad_key_given_to_a_composition_directly_is_refused(tmp_path):
    from smartborder.compose.gate import GateConfig, GateConfigError, validate
    from smartborder.compose.kiosk import KioskConfig, KioskConfigError
    from smartborder.compose.kiosk import validate as validate_kiosk

    with pytest.raises(GateConfigError, match="ledger_public_key"):
        validate(GateConfig(trust_path=tmp_path, env="dev", ledger_public_key="AAAA"))
    with pytest.raises(KioskConfigError, match="ledger_public_key"):
        validate_kiosk(KioskConfig(trust_path=tmp_path, env="dev", ledger_public_key="AAAA"))
