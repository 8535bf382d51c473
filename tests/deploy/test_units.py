"""deploy/ and docs/DEPLOYMENT.md against the code: the systemd units parse (``systemd-analyze verify``), every
ExecStart and every ``smartborder ...`` command of the document parses against the CLI, every environment
variable they name is one the code reads, and the env examples with the example TOML files make a valid
production configuration. So the deployment documentation cannot drift from the CLI and the settings."""

from __future__ import annotations

import dataclasses
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from smartborder.cli import main
from smartborder.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOC = REPO / "docs" / "DEPLOYMENT.md"
UNITS = sorted(p for p in DEPLOY.iterdir() if p.suffix in (".service", ".timer"))
SERVICES = [p for p in UNITS if p.suffix == ".service"]
ENV_EXAMPLES = sorted(DEPLOY.glob("*.env.example"))
#: variables the units or env examples may name that are not SMARTBORDER_* settings, each with its reader
OTHER_VARIABLES = {"SSL_CERT_FILE": "httpx (the devices' HTTPS client) reads it for a private CA bundle"}
#: the commands the document must give (the first-run steps, the timer's purge, the checks)
REQUIRED_COMMANDS = [
    ("backoffice", "serve"), ("backoffice", "create-user"), ("backoffice", "issue-device"), ("backoffice", "backup"),
    ("privacy", "purge"), ("privacy", "public-key"), ("trust", "import"), ("trust", "signing-key"), ("gate", "run"),
    ("kiosk", "run"), ("doctor",),
]


def parse_unit(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, repeated keys kept, continuation lines joined."""
    out, section, pending = [], None, ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        assert sep and section, f"{path.name}: not a unit line: {raw!r}"
        out.append((section, key.strip(), value.strip()))
    return out


def values(path: Path, key: str) -> list[str]:
    return [v for _, k, v in parse_unit(path) if k == key]


def settings_variables() -> set[str]:
    """Every variable smartborder/settings.py reads: SMARTBORDER_CONFIG and SMARTBORDER_<FIELD>."""
    names = {f.name for f in dataclasses.fields(Settings)} - {"generated_secrets"}
    return {"SMARTBORDER_CONFIG"} | {f"SMARTBORDER_{n.upper()}" for n in names}


def check_cli(argv: list[str]) -> None:
    """``argv`` (after ``smartborder``) names an existing command and only its options, with values its choices
    and ranges accept (paths are not opened); and ``smartborder ARGV --help`` answers 0 through click."""
    cmd: click.Command = main
    args = list(argv)
    ctx = click.Context(main, info_name="smartborder")
    while isinstance(cmd, click.Group):
        assert args, f"smartborder {' '.join(argv)}: a group, no command named"
        name = args.pop(0)
        sub = cmd.get_command(ctx, name)
        assert sub is not None, f"smartborder {' '.join(argv)}: no command {name!r}"
        cmd, ctx = sub, click.Context(sub, info_name=name, parent=ctx)
    try:
        opts, rest, order = cmd.make_parser(ctx).parse_args(args)
    except click.UsageError as e:
        raise AssertionError(f"smartborder {' '.join(argv)}: {e.format_message()}") from e
    params = {p.name: p for p in cmd.params}
    for name, value in opts.items():
        param = params[name]
        if isinstance(param.type, (click.Path, click.File)) or value is None:
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            try:
                param.type.convert(v, param, ctx)
            except click.BadParameter as e:
                raise AssertionError(f"smartborder {' '.join(argv)}: {name}: {e.format_message()}") from e
    assert not rest, f"smartborder {' '.join(argv)}: unexpected arguments {rest}"
    result = CliRunner().invoke(main, [*argv, "--help"])
    assert result.exit_code == 0, f"smartborder {' '.join(argv)} --help: {result.output}"


def exec_argv(unit: Path) -> list[str]:
    (line,) = values(unit, "ExecStart")
    argv = shlex.split(line.lstrip("-@:+!"))
    assert argv[0] == "/opt/smartborder/.venv/bin/smartborder", f"{unit.name}: ExecStart runs {argv[0]}"
    return argv[1:]


# --- the units ------------------------------------------------------------------------------------------------

def test_the_deployment_files_are_there():
    names = {p.name for p in UNITS}
    assert {"smartborder-backoffice.service", "smartborder-gate.service", "smartborder-purge.service",
            "smartborder-purge.timer"} <= names
    assert {p.name for p in ENV_EXAMPLES} == {"backoffice.env.example", "gate.env.example"}


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_each_service_is_hardened(unit):
    settings = {k: v for _, k, v in parse_unit(unit)}
    assert settings["User"] == settings["Group"] == "smartborder"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "ProtectHome": "yes",
                       "CapabilityBoundingSet": "", "UMask": "0077"}.items():
        assert settings.get(key) == value, f"{unit.name}: {key}={settings.get(key)!r}"
    assert settings["RestrictAddressFamilies"]
    assert settings["Restart"] == "on-failure"
    assert values(unit, "ReadWritePaths") == ["-/var/lib/smartborder -/var/lib/smartborder-keys"]
    assert settings["StateDirectoryMode"] == "0700"  # key material is refused in a directory open to others
    (env,) = values(unit, "EnvironmentFile")
    assert env.startswith("/etc/smartborder/") and env.endswith(".env")


def test_only_the_gate_reaches_devices():
    gate = DEPLOY / "smartborder-gate.service"
    assert values(gate, "DevicePolicy") == ["closed"]
    allowed = {v.split()[0] for v in values(gate, "DeviceAllow")}
    assert {"char-video4linux", "char-ttyS", "char-ttyUSB", "char-usb_device"} <= allowed
    assert "AF_NETLINK" in values(gate, "RestrictAddressFamilies")[0]
    for unit in ("smartborder-backoffice.service", "smartborder-purge.service"):
        assert values(DEPLOY / unit, "PrivateDevices") == ["yes"]
        assert not values(DEPLOY / unit, "DeviceAllow")


def test_the_purge_timer_starts_the_purge():
    timer = DEPLOY / "smartborder-purge.timer"
    assert values(timer, "OnCalendar") == ["hourly"] and values(timer, "Persistent") == ["true"]
    assert values(DEPLOY / "smartborder-purge.service", "Type") == ["oneshot"]
    assert exec_argv(DEPLOY / "smartborder-purge.service")[:2] == ["privacy", "purge"]


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_exec_start_parses_against_the_cli(unit):
    check_cli(exec_argv(unit))


@pytest.mark.parametrize("argv", [["backoffice", "serve", "--no-such-option"], ["backoffice", "no-such-command"],
                                  ["privacy", "purge", "--batch", "0"], ["gate", "run", "--direction", "sideways"],
                                  ["backoffice", "create-user", "a", "b"]])
def test_the_cli_check_refuses_what_does_not_exist(argv):
    with pytest.raises(AssertionError):
        check_cli(argv)


def _verify_copy(tmp_path: Path, unit: Path) -> Path:
    """A copy of the unit (and its service, for a timer) whose ExecStart and EnvironmentFile exist here:
    ``systemd-analyze verify`` checks the binary is executable."""
    wrapper = tmp_path / "smartborder"
    wrapper.write_text("#!/bin/sh\nexit 0\n")
    wrapper.chmod(0o755)
    (tmp_path / "unit.env").write_text("")
    for source in {unit, *(DEPLOY.glob(unit.stem + ".service"))}:
        text = source.read_text().replace("/opt/smartborder/.venv/bin/smartborder", str(wrapper))
        text = re.sub(r"(?m)^EnvironmentFile=.*$", f"EnvironmentFile={tmp_path / 'unit.env'}", text)
        (tmp_path / source.name).write_text(text)
    return tmp_path / unit.name


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verify(unit, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (package systemd): the units' syntax is not checked here")
    copy = _verify_copy(tmp_path, unit)
    r = subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    # verify exits 0 on unknown keys and bad values ("... ignoring"): any line about our file is a failure
    ours = [line for line in (r.stdout + r.stderr).splitlines() if copy.name in line or str(tmp_path) in line]
    assert r.returncode == 0 and not ours, f"{unit.name}: {r.stdout}{r.stderr}"


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_systemd_analyze_security_rates_the_sandbox_ok(unit, tmp_path):
    """``systemd-analyze security --offline``: the exposure stays low (0.8 to 1.7 of 10 when written); dropping
    a hardening setting raises it past the bound."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (package systemd)")
    copy = _verify_copy(tmp_path, unit)
    r = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(copy)], capture_output=True,
                       text=True, timeout=120, cwd=tmp_path)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    if m is None and "--offline" in r.stderr:
        pytest.skip(f"this systemd-analyze has no --offline security check: {r.stderr.strip()[:200]}")
    assert m is not None, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.5, f"{unit.name}: exposure {m.group(1)}\n{r.stdout}"


def test_systemd_analyze_verify_catches_a_bad_key(tmp_path):
    """The check above can fail: a misspelt key and a bad value are reported."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (package systemd)")
    copy = _verify_copy(tmp_path, DEPLOY / "smartborder-gate.service")
    copy.write_text(copy.read_text().replace("KillSignal=SIGINT", "KillSignal=SIGFOO\nNoNewPrivilege=yes"))
    r = subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=120)
    assert "SIGFOO" in r.stderr and "NoNewPrivilege" in r.stderr


# --- the environment ------------------------------------------------------------------------------------------

def env_names(path: Path) -> list[str]:
    """Variables an env example sets or offers (commented ``# KEY=value`` lines too)."""
    return re.findall(r"(?m)^#?\s*([A-Z][A-Z0-9_]*)=\S*$", path.read_text())


def test_every_variable_named_is_read_by_the_settings():
    known = settings_variables() | set(OTHER_VARIABLES)
    for path in ENV_EXAMPLES:
        names = env_names(path)
        assert names, path.name
        assert set(names) <= known, f"{path.name}: {sorted(set(names) - known)} are not read by smartborder/settings.py"
    for unit in UNITS:
        for value in values(unit, "Environment"):
            for name in re.findall(r"([A-Z][A-Z0-9_]*)=", value):
                assert name in known, f"{unit.name}: Environment={name} is not read by smartborder/settings.py"
        for env in values(unit, "EnvironmentFile"):
            assert (DEPLOY / (Path(env).name + ".example")).exists(), f"{unit.name}: no example for {env}"


def test_variables_named_in_the_document_exist():
    """A SMARTBORDER_* name in DEPLOYMENT.md (both layouts: the central one's SMARTBORDER_DATABASE_URL is a
    setting now) is a setting or one the code reads by that literal name."""
    text = DOC.read_text()
    assert "SMARTBORDER_DATABASE_URL" in text
    source = "\n".join(p.read_text() for d in ("smartborder", "models", "kiosk") for p in (REPO / d).rglob("*.py"))
    for name in set(re.findall(r"\bSMARTBORDER_[A-Z0-9_]+\b", text)):
        assert name in settings_variables() or f'"{name}"' in source, f"DEPLOYMENT.md names {name}: nothing reads it"


def _filled(path: Path) -> dict[str, str]:
    """The env example's set variables, the empty secrets filled with random values, SMARTBORDER_CONFIG left out."""
    import secrets

    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if m and m.group(1) != "SMARTBORDER_CONFIG":
            out[m.group(1)] = m.group(2) or secrets.token_urlsafe(32)
    return out


def test_the_backoffice_env_example_makes_a_production_configuration():
    env = _filled(DEPLOY / "backoffice.env.example")
    settings = load_settings(REPO / "config" / "backoffice.example.toml", environ=env)
    assert settings.env == "prod" and not settings.generated_secrets
    assert settings.data_dir == Path("/var/lib/smartborder") and settings.key_dir == Path("/var/lib/smartborder-keys")
    # without the unused device token, Settings refuses to start (why the example carries one)
    env.pop("SMARTBORDER_DEVICE_TOKEN")
    with pytest.raises(ValueError, match="device_token"):
        load_settings(REPO / "config" / "backoffice.example.toml", environ=env)


def test_the_gate_env_example_makes_a_production_gate_configuration():
    from smartborder.compose.gate import gate_config

    env = _filled(DEPLOY / "gate.env.example")
    settings = load_settings(REPO / "config" / "gate.example.toml", environ=env)
    assert settings.env == "prod" and not settings.generated_secrets
    config = gate_config(settings)
    assert config.token == env["SMARTBORDER_DEVICE_TOKEN"] and config.backoffice_url.startswith("https://")
    # the outbox vault's key store lands in the unit's writable StateDirectory, not in read-only /etc
    assert config.vault_path.parent == Path("/var/lib/smartborder-keys")
    assert str(config.db_path).startswith("/var/lib/smartborder/")
    assert config.kek_file == Path("/etc/smartborder/keys/gate.kek")


# --- the document ---------------------------------------------------------------------------------------------

def doc_commands() -> list[list[str]]:
    """Every ``smartborder ...`` command in the document's ```sh blocks (continuations joined; split at
    ``&&``, ``||``, ``;`` and ``|``; leading ``VAR=value`` assignments dropped) and in its inline code spans
    (`smartborder privacy rotate-kek ...`, but the prose's "`smartborder ...`")."""
    text = DOC.read_text()
    out = [shlex.split(span)[1:] for span in re.findall(r"(?<!`)`(smartborder [^`]+)`(?!`)", text)
           if "..." not in span]
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            words: list[str] = []
            for token in [*lexer, ";"]:
                if token in (";", "&&", "||", "|", "&"):
                    while words and re.match(r"^[A-Z_]+=", words[0]):
                        words.pop(0)
                    if words and words[0] == "smartborder":
                        out.append(words[1:])
                    words = []
                else:
                    words.append(token)
    return out


def test_the_document_gives_the_required_commands():
    found = {tuple(c[:len(r)]) for c in doc_commands() for r in REQUIRED_COMMANDS}
    missing = [" ".join(r) for r in REQUIRED_COMMANDS if r not in found]
    assert not missing, f"DEPLOYMENT.md gives no `smartborder {missing}`"


@pytest.mark.parametrize("argv", doc_commands(), ids=lambda a: " ".join(a)[:60])
def test_each_command_of_the_document_parses(argv):
    check_cli(argv)


def test_the_readme_links_the_document():
    assert "docs/DEPLOYMENT.md" in (REPO / "README.md").read_text()
