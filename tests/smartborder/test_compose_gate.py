"""The gate's composition refuses unsafe configurations and relaxes only what the configuration names."""

from __future__ import annotations

import os

import pytest

from smartborder.compose.gate import (
    GateConfig,
    GateConfigError,
    GateDevices,
    build_gate,
    gate_config,
    real_devices,
)
from smartborder.settings import load_settings

STRONG = "s" * 40


def settings(tmp_path, **over):
    trust = tmp_path / "trust"
    trust.mkdir(exist_ok=True)
    base = dict(data_dir=tmp_path / "data", key_dir=tmp_path / "keys", gate_trust=trust)
    base.update(over)
    return load_settings(environ={}, **base)


def prod(tmp_path, **over):
    return settings(tmp_path, env="prod", secret_key=STRONG, kek=STRONG, device_token=STRONG, **over)


def test_production_defaults_relax_nothing(tmp_path):
    config = gate_config(prod(tmp_path))
    policy = config.policy()
    assert config.relaxations() == []
    assert (policy.require_liveness, policy.require_revocation_status, policy.require_fingerprint_when_enrolled,
            policy.refer_when_fingerprint_unavailable, policy.require_chip_authenticity) == (True,) * 5
    assert config.db_path == tmp_path / "data" / "gate.db" and config.kek_file == tmp_path / "keys" / "gate.kek"
    assert config.backoffice_url and config.token == STRONG  # a configured credential: the gate syncs


def test_relaxations_are_named_in_the_configuration(tmp_path):
    config = gate_config(settings(tmp_path, gate_liveness="off", gate_fingerprint_offline="skip",
                                  gate_revocation="accept_unknown"))
    assert config.relaxations() == ["liveness=off", "fingerprint_offline=skip", "revocation=accept_unknown"]
    policy = config.policy()
    assert not policy.require_liveness and not policy.refer_when_fingerprint_unavailable
    assert not policy.require_revocation_status and policy.require_fingerprint_when_enrolled


def test_the_watchlist_staleness_setting_reaches_the_policy(tmp_path):
    assert gate_config(settings(tmp_path, watchlist_max_staleness_s=600)).policy().max_watchlist_age_s == 600.0


def test_a_gate_without_a_trust_store_is_refused(tmp_path):
    with pytest.raises(GateConfigError, match="trust store"):
        gate_config(load_settings(environ={}, data_dir=tmp_path))


def test_seeded_challenges_only_in_dev(tmp_path):
    assert gate_config(settings(tmp_path, gate_liveness_seed=3)).liveness_seed == 3
    with pytest.raises(GateConfigError, match="liveness_seed"):
        gate_config(prod(tmp_path, gate_liveness_seed=3))


def test_a_generated_dev_token_is_not_a_credential(tmp_path):
    config = gate_config(settings(tmp_path))
    assert config.token is None and config.backoffice_url is None  # offline, never a made-up token


def test_real_devices_need_a_door_controller(tmp_path):
    with pytest.raises(GateConfigError, match="door"):
        real_devices(gate_config(prod(tmp_path)))


class _Nothing:
    def frames(self):
        return iter(())

    def open(self):
        pass


def _trust_dir(tmp_path):
    from cryptography.hazmat.primitives.serialization import Encoding

    from emrtd.sim import IssuerPki

    pki = IssuerPki.make("VN")
    trust = tmp_path / "trust"
    trust.mkdir(exist_ok=True)
    (trust / "csca.der").write_bytes(pki.csca_cert.public_bytes(Encoding.DER))
    return trust


def _devices():
    from devices.sim import LoggingDoor, SimulatedReader

    return GateDevices(SimulatedReader(), _Nothing(), LoggingDoor())


def test_the_store_is_sealed_under_a_key_kept_out_of_the_data_directory(tmp_path):
    trust = _trust_dir(tmp_path)
    config = gate_config(settings(tmp_path, gate_trust=trust))
    gate = build_gate(config, _devices())
    try:
        kek = tmp_path / "keys" / "gate.kek"
        assert kek.is_file() and (kek.stat().st_mode & 0o777) == 0o600  # created on first use in dev
        # the vault's key store is key material too: in the key directory, not beside gate.db
        assert (tmp_path / "keys" / "gate-vault.db").is_file() and not (tmp_path / "data" / "gate.db.vault").exists()
    finally:
        gate.close()


@pytest.mark.parametrize("problem", ["inside data dir", "world readable", "missing in prod"])
def test_unsafe_key_files_refuse_to_start(tmp_path, problem):
    trust = _trust_dir(tmp_path)
    if problem == "inside data dir":
        config = gate_config(settings(tmp_path, gate_trust=trust, gate_kek_file=tmp_path / "data" / "gate.kek"))
        match = "data director"
    elif problem == "world readable":
        key = tmp_path / "keys" / "gate.kek"
        key.parent.mkdir()
        key.write_text(os.urandom(32).hex())
        key.chmod(0o644)
        config = gate_config(settings(tmp_path, gate_trust=trust))
        match = "0644|chmod"
    else:
        config = gate_config(prod(tmp_path, gate_trust=trust))
        match = "does not exist"
    with pytest.raises(GateConfigError, match=match):
        build_gate(config, _devices())


def test_an_in_memory_gate_needs_no_key_file(tmp_path):
    config = GateConfig(trust_path=_trust_dir(tmp_path), data_dir=tmp_path / "data")
    gate = build_gate(config, _devices())
    try:
        assert not (tmp_path / "keys").exists()
        assert gate.workflow.policy.require_liveness
    finally:
        gate.close()


def test_serve_survives_a_reader_outage_and_waits_for_the_document_to_be_taken(tmp_path):
    """A PC/SC outage is logged and retried, never the end of the gate; each traveller's document must
    leave the reader before the next transaction."""
    from devices.ports import ReaderError
    from smartborder.compose.gate import serve

    events = []

    class FlakyReader:
        calls = 0

        def wait_for_card(self, timeout):
            FlakyReader.calls += 1
            if FlakyReader.calls == 1:
                raise ReaderError("pcscd restarting")
            events.append("card")

        def transmit(self, apdu):
            raise ReaderError("no chip here")

        def wait_for_removal(self, timeout):
            events.append("removed")
            return True

    from devices.sim import LoggingDoor

    gate = build_gate(GateConfig(trust_path=_trust_dir(tmp_path), data_dir=tmp_path / "data"),
                      GateDevices(FlakyReader(), _Nothing(), LoggingDoor()))
    try:
        results = []
        assert serve(gate, max_travellers=2, reader_retry_s=0.01, on_result=results.append) == 2
    finally:
        gate.close()
    assert events == ["card", "removed", "card", "removed"]
    assert [r.opened for r in results] == [False, False]  # no document data, no chip: referred


@pytest.mark.parametrize(("override", "match"), [
    ({"backoffice_url": "http://10.0.0.5:8080"}, "https"),
    ({"token": "changeme"}, "placeholder"),
    ({"finger_dir": "scanner"}, "finger_dir"),
    ({"camera": "recording"}, "video file"),
], ids=["plain-http", "placeholder-token", "image-scanner", "video-camera"])
def test_production_refuses_development_stand_ins_and_weak_links(tmp_path, override, match):
    if override.get("camera"):
        video = tmp_path / "recording.avi"
        video.write_bytes(b"RIFF")
        override = {"camera": str(video)}
    if override.get("finger_dir"):
        (tmp_path / "scanner").mkdir()
        override = {"finger_dir": tmp_path / "scanner"}
    with pytest.raises(GateConfigError, match=match):
        gate_config(prod(tmp_path), **override)
    gate_config(settings(tmp_path), **override)  # the same is a developer's choice in env = "dev"


def test_loopback_http_is_fine_in_production(tmp_path):
    assert gate_config(prod(tmp_path), backoffice_url="http://127.0.0.1:8080").backoffice_url


def test_the_key_is_not_kept_beside_the_vault_it_protects(tmp_path):
    trust = _trust_dir(tmp_path)
    store = tmp_path / "store"
    config = gate_config(settings(tmp_path, gate_trust=trust, gate_db=store / "gate.db", gate_kek_file=store / "gate.kek"))
    with pytest.raises(GateConfigError, match="data director"):
        build_gate(config, _devices())


def test_a_simulation_directory_runs_in_dev_only(tmp_path):
    from smartborder.sim.gate import SimError, sim_config

    _trust_dir(tmp_path)
    (tmp_path / "gate.toml").write_text('env = "prod"\n')
    with pytest.raises(SimError, match="dev"):
        sim_config(tmp_path, environ={"SMARTBORDER_SECRET_KEY": STRONG, "SMARTBORDER_KEK": STRONG,
                                      "SMARTBORDER_DEVICE_TOKEN": STRONG})


def test_a_key_store_left_in_the_data_directory_is_moved_in_dev_and_refused_elsewhere(tmp_path):
    """An earlier version kept the outbox vault's key store beside gate.db: a new, empty one in its place would
    leave every undelivered item unreadable, so production refuses and names the move; dev moves it."""
    import sqlite3

    trust = _trust_dir(tmp_path)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    legacy = data / "gate.db.vault"
    with sqlite3.connect(legacy) as conn:
        conn.execute("CREATE TABLE marker (x)")
    os.chmod(legacy, 0o600)
    from privacy import FileKek

    FileKek.generate(tmp_path / "keys" / "gate.kek")  # production: the key file exists, made by the operator
    with pytest.raises(GateConfigError, match="move it"):
        build_gate(gate_config(prod(tmp_path, gate_trust=trust, gate_door_port="/dev/null")), _devices())
    assert legacy.exists()
    gate = build_gate(gate_config(settings(tmp_path, gate_trust=trust)), _devices())
    gate.close()
    moved = tmp_path / "keys" / "gate-vault.db"
    assert not legacy.exists() and moved.is_file()
    with sqlite3.connect(moved) as conn:  # the same store, moved, not a new one
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'marker'").fetchone()


def test_extended_length_apdus_are_an_explicit_opt_in_per_reader(tmp_path):
    """Review of #23: real chips answer a plain 6700/6987/6988 to an extended APDU and drop the SM session, and
    readers without extended support fail the transmit: extended length is off unless the lane turns it on,
    and the chip step the composition builds reads with short APDUs by default."""
    from gate import ChipStep

    assert gate_config(prod(tmp_path)).extended_length is False
    assert GateConfig(trust_path=tmp_path).extended_length is False
    assert ChipStep(reader=None).extended_length is False
    assert gate_config(settings(tmp_path, gate_extended_length=True)).extended_length is True
