"""The back office's composition: the one function `backoffice serve`, the demo and the tests build it with."""

from pathlib import Path

import pytest

from biometrics.face import THRESHOLDS as FACE
from biometrics.face._thresholds import THRESHOLDS_DLIB as FACE_DLIB
from biometrics.finger import THRESHOLDS as FINGER
from smartborder.compose.backoffice import CompositionError, backoffice_config, build_backoffice
from smartborder.settings import load_settings


def _settings(tmp_path, **values):
    return load_settings(environ={}, data_dir=str(tmp_path), **values)


def test_the_matchers_are_always_the_engines_calibrated_ones(tmp_path):
    config = backoffice_config(_settings(tmp_path), environ={})
    assert config.face_matching.threshold_name == "fmr_5e-4"
    assert (config.face_matching.threshold, config.face_matching.threshold_dlib) == (
        FACE["fmr_5e-4"], FACE_DLIB["fmr_5e-4"])
    assert 0.9 < config.face_matching.threshold_dlib < 0.97  # a calibrated cosine, not a default
    assert config.fingerprint_matching.verify_threshold == config.fingerprint_matching.duplicate_threshold == FINGER[
        "fmr_5e-4"]
    assert config.db_path == tmp_path / "backoffice.db" and config.dev
    # dev: secrets kept across restarts, in the key directory (never in the data directory and its backups)
    assert (Path(_settings(tmp_path).key_dir) / "backoffice.dev-secrets.json").exists()
    assert not (tmp_path / "backoffice.dev-secrets.json").exists()
    other = backoffice_config(_settings(tmp_path), environ={}, face_threshold="fmr_1e-2",
                              fingerprint_threshold="fmr_1e-3", argon2_time_cost=1)
    assert other.face_matching.threshold == FACE["fmr_1e-2"] and other.fingerprint_matching.verify_threshold == FINGER["fmr_1e-3"]
    assert other.secret_key == config.secret_key and other.argon2_time_cost == 1
    with pytest.raises(CompositionError, match="unknown fingerprint threshold"):
        backoffice_config(_settings(tmp_path), environ={}, fingerprint_threshold="fmr_1e-9")
    with pytest.raises(CompositionError, match="max_body_bytes"):
        backoffice_config(_settings(tmp_path), environ={}, max_body_bytes=0)


def test_the_app_is_built_with_them_and_fails_closed_without_a_key(tmp_path):
    app = build_backoffice(_settings(tmp_path), environ={}, db_path=tmp_path / "x.db", argon2_time_cost=1)
    assert app.state.ctx.config.fingerprint_matching is not None and app.state.ctx.config.face_matching is not None
    prod = _settings(tmp_path, env="prod", secret_key="s" * 32, device_token="d" * 32, kek_file=str(tmp_path / "no"))
    with pytest.raises(CompositionError, match="no"):
        build_backoffice(prod, environ={}, db_path=tmp_path / "p.db")


def test_key_material_inside_the_data_directory_is_refused(tmp_path):
    from privacy import FileKek
    from smartborder.compose.backoffice import CompositionError

    kek = tmp_path / "backoffice.kek"
    FileKek.generate(kek)
    with pytest.raises(CompositionError, match="inside the data directory"):
        backoffice_config(_settings(tmp_path, env="test", secret_key="s" * 32, device_token="d" * 32, kek_file=kek),
                          environ={})
    with pytest.raises(CompositionError, match="inside the data directory"):
        backoffice_config(_settings(tmp_path), environ={}, keys_db_path=tmp_path / "k" / "keys.db")


def test_a_key_store_beside_the_database_is_moved_in_dev_and_refused_elsewhere(tmp_path):
    """Earlier versions kept the vault's key store beside the database (bo.db -> bo-keys.db, inside the data
    directory and its backups). Production refuses to start and names the move; dev moves it; a database
    holding sealed data whose key store is missing is refused rather than given a new, empty one."""
    from backoffice import ConfigError, Store
    from backoffice._privacy import PrivacyGateway
    from privacy import RawKek
    from tests.backoffice.conftest import make_config

    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    db, legacy = data / "bo.db", data / "bo-keys.db"
    PrivacyGateway(Store(db), RawKek(bytes(range(32))), legacy)  # the old layout (make_config's KEK)
    assert legacy.exists()
    new_place = tmp_path / "data-keys" / "bo-keys.db"
    with pytest.raises(ConfigError, match="move it"):
        PrivacyGateway.from_config(make_config(db_path=db, dev=False), Store(db))
    gw = PrivacyGateway.from_config(make_config(db_path=db), Store(db))  # dev: moved
    assert not legacy.exists() and new_place.exists() and gw.verify_ledger()["ok"]
    new_place.rename(new_place.with_name("lost.db"))
    with pytest.raises(ConfigError, match="does not exist"):
        PrivacyGateway.from_config(make_config(db_path=db), Store(db))


def test_watchlist_four_eyes_is_configured_from_the_settings(tmp_path):
    """Off by default; a config file ([backoffice] watchlist_four_eyes = true) or the environment turns it on;
    a value that is not a boolean is refused, not read as off."""
    from smartborder.settings import SettingsError

    assert backoffice_config(_settings(tmp_path), environ={}).watchlist_four_eyes is False
    config = tmp_path / "bo.toml"
    config.write_text("[backoffice]\nwatchlist_four_eyes = true\n")
    settings = load_settings(config, environ={}, data_dir=str(tmp_path))
    assert backoffice_config(settings, environ={}).watchlist_four_eyes is True
    settings = load_settings(environ={"SMARTBORDER_BACKOFFICE_WATCHLIST_FOUR_EYES": "true"}, data_dir=str(tmp_path))
    assert settings.backoffice_watchlist_four_eyes is True
    with pytest.raises(SettingsError, match="true or false"):
        load_settings(environ={"SMARTBORDER_BACKOFFICE_WATCHLIST_FOUR_EYES": "sometimes"}, data_dir=str(tmp_path))


def test_a_database_url_composes_the_back_office_on_postgresql_with_its_key_store_apart(tmp_path):
    url, keys = "postgresql://bo:s3cret@db.internal:5432/bo", "postgresql://bk:k3ys@db.internal:5432/bo_keys"
    config = backoffice_config(_settings(tmp_path, database_url=url, keys_database_url=keys), environ={})
    assert config.db_path == url and config.keys_db_url == keys and config.keys_db_path is None
    assert "s3cret" not in repr(config) and "k3ys" not in repr(config)  # URLs hold passwords
    assert config.secret_key not in repr(config)
    # an explicit SQLite file still wins for the tools that take --db
    assert backoffice_config(_settings(tmp_path, database_url=url, keys_database_url=keys), environ={},
                             db_path=tmp_path / "x.db").db_path == tmp_path / "x.db"
