from pathlib import Path

import pytest

from smartborder.settings import Settings, SettingsError, load_settings

STRONG = "k" * 40


def test_dev_replaces_placeholder_secrets_with_random_ones():
    a, b = Settings(env="dev", secret_key="changeme"), Settings(env="dev")
    assert a.secret_key not in ("changeme", "") and len(a.secret_key) >= 32
    assert a.secret_key != b.secret_key


@pytest.mark.parametrize("env", ["prod", "test"])
@pytest.mark.parametrize("secret", ["", "changeme", "secret", "short"])
def test_placeholder_secrets_refused_outside_dev(env, secret):
    with pytest.raises(SettingsError, match="secret_key"):
        Settings(env=env, secret_key=secret, kek=STRONG, device_token=STRONG)


def test_toml_then_environment_then_overrides(tmp_path):
    cfg = tmp_path / "sb.toml"
    cfg.write_text(f'env = "prod"\nsecret_key = "{STRONG}"\nkek = "{STRONG}"\ndevice_token = "{STRONG}"\n'
                   f'data_dir = "{tmp_path / "data"}"\n'
                   '[backoffice]\nport = 9000\nhost = "127.0.0.2"\n', encoding="utf-8")
    s = load_settings(cfg, environ={"SMARTBORDER_BACKOFFICE_PORT": "9100"})
    assert (s.env, s.backoffice_host, s.backoffice_port) == ("prod", "127.0.0.2", 9100)
    s = load_settings(cfg, environ={}, backoffice_port=9200)
    assert s.backoffice_port == 9200
    assert STRONG not in repr(s)


def test_bad_config_is_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("env = ", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad, environ={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('colour = "red"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="unknown settings"):
        load_settings(unknown, environ={})
    with pytest.raises(SettingsError, match="integer"):
        load_settings(environ={"SMARTBORDER_BACKOFFICE_PORT": "eighty"})
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})
    with pytest.raises(SettingsError, match="env must be"):
        Settings(env="staging")


def test_relative_paths_are_refused_outside_dev(tmp_path):
    """A relative data directory follows the working directory the service was started from: started from
    elsewhere it would open (or create) another data set with another key store."""
    strong = dict(secret_key=STRONG, kek=STRONG, device_token=STRONG)
    with pytest.raises(SettingsError, match="data_dir 'var' is relative"):
        load_settings(environ={}, env="prod", **strong)
    with pytest.raises(SettingsError, match="key_dir 'keys' is relative"):
        load_settings(environ={}, env="test", data_dir=str(tmp_path / "data"), key_dir="keys", **strong)
    s = load_settings(environ={}, env="prod", data_dir=str(tmp_path / "data"), **strong)
    assert s.key_dir == tmp_path / "data-keys"
    assert load_settings(environ={}).data_dir == Path("var")  # dev keeps the working-directory default


def test_trusted_proxies_default_none_and_parsed(tmp_path):
    assert Settings(env="dev").backoffice_trusted_proxies == ""
    cfg = tmp_path / "sb.toml"
    cfg.write_text('[backoffice]\ntrusted_proxies = ["10.0.0.1", " 10.1.0.0/16", "::1"]\n', encoding="utf-8")
    assert load_settings(cfg, environ={}).backoffice_trusted_proxies == "10.0.0.1,10.1.0.0/16,::1"
    s = load_settings(environ={"SMARTBORDER_BACKOFFICE_TRUSTED_PROXIES": "192.0.2.10, 192.0.2.11"})
    assert s.backoffice_trusted_proxies == "192.0.2.10,192.0.2.11"
    with pytest.raises(SettingsError, match="not an IP address"):
        Settings(env="dev", backoffice_trusted_proxies="proxy.example")


def test_trusting_every_proxy_is_dev_only(tmp_path):
    assert Settings(env="dev", backoffice_trusted_proxies="*").backoffice_trusted_proxies == "*"
    with pytest.raises(SettingsError, match='refused outside env = "dev"'):
        Settings(env="prod", secret_key=STRONG, kek=STRONG, device_token=STRONG, data_dir=tmp_path / "d",
                 backoffice_trusted_proxies="10.0.0.1,*")


def test_the_central_database_is_one_setting_with_the_key_stores_beside_it_and_never_shown():
    env = {"SMARTBORDER_DATABASE_URL": "postgresql://bo:s3cret-pw@db.example:5432/smartborder",
           "SMARTBORDER_KEYS_DATABASE_URL": "postgresql+psycopg://keys:other-pw@db.example:5432/smartborder_keys",
           "SMARTBORDER_BACKOFFICE_WORKERS": "4"}
    s = load_settings(environ=env)
    assert s.database_url.endswith("/smartborder") and s.keys_database_url.endswith("/smartborder_keys")
    assert s.backoffice_workers == 4
    assert "s3cret-pw" not in repr(s) and "other-pw" not in repr(s)
    assert load_settings(environ={}).database_url is None  # SQLite stays the default
    assert load_settings(environ={"SMARTBORDER_DATABASE_URL": " "}).database_url is None
    with pytest.raises(SettingsError, match="needs keys_database_url"):
        load_settings(environ={"SMARTBORDER_DATABASE_URL": env["SMARTBORDER_DATABASE_URL"]})
    with pytest.raises(SettingsError, match="must not be database_url"):
        load_settings(environ={**env, "SMARTBORDER_KEYS_DATABASE_URL": env["SMARTBORDER_DATABASE_URL"]})
    with pytest.raises(SettingsError, match="not 'sqlite'") as e:
        load_settings(environ={**env, "SMARTBORDER_DATABASE_URL": "sqlite:///var/x.db"})
    assert "s3cret" not in str(e.value)
    with pytest.raises(SettingsError, match="not 'mysql'"):
        load_settings(environ={**env, "SMARTBORDER_KEYS_DATABASE_URL": "mysql://k:other-pw@h/k"})
    with pytest.raises(SettingsError, match="backoffice_workers must be 1-64"):
        load_settings(environ={**env, "SMARTBORDER_BACKOFFICE_WORKERS": "0"})
