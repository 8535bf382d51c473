"""The back office of bench/backoffice_load.py, started as a deployment starts it: a config file with a KEK
file beside the data, ``smartborder backoffice serve --port P`` with ``SMARTBORDER_BACKOFFICE_WORKERS=N``, on
the SQLite file of the config or, for PostgreSQL, on two databases of a throwaway cluster
(``storage.testing.postgres_cluster``, never a system server) named by ``SMARTBORDER_DATABASE_URL`` and
``SMARTBORDER_KEYS_DATABASE_URL`` (the key store's database and role with the scrub's grants, as
docs/DEPLOYMENT.md section 2 asks of the DBA). Everything is stopped and removed at the end."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMARTBORDER = ROOT / ".venv" / "bin" / "smartborder"


@dataclass
class Deployment:
    backend: str
    workers: int
    target: str  # the SQLite path or the data database's URL
    secret_key: str = field(repr=False)
    env: dict[str, str] = field(repr=False)
    base: str = ""
    proc: subprocess.Popen | None = field(default=None, repr=False)
    cluster: object | None = field(default=None, repr=False)

    def server_pids(self) -> list[int]:
        """The serve process and every process under it (uvicorn's supervisor and its workers)."""
        return _tree(self.proc.pid) if self.proc else []


def _tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        with contextlib.suppress(OSError):
            todo += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return pids


def _vm(pid: int, key: str) -> float:
    """VmHWM (peak RSS) or VmRSS of a process in MiB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def server_peak_rss(dep: Deployment) -> dict:
    """Peak RSS (VmHWM) of the back office's processes, read before they stop."""
    per = {pid: round(_vm(pid, "VmHWM"), 1) for pid in dep.server_pids()}
    return {"processes": len(per), "max_mb": max(per.values(), default=0.0),
            "sum_mb": round(sum(per.values()), 1)}


def postgres_rss(dep: Deployment) -> dict:
    """Current RSS of the cluster's processes (postmaster and backends; shared buffers counted in each)."""
    pid = dep.cluster.server_pid() if dep.cluster is not None else None
    if pid is None:
        return {}
    per = [_vm(p, "VmHWM") for p in _tree(pid)]
    return {"processes": len(per), "max_mb": round(max(per, default=0.0), 1)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(tmp: Path) -> tuple[dict[str, str], str, Path]:
    data, keys = tmp / "data", tmp / "keys"
    data.mkdir(mode=0o700)
    keys.mkdir(mode=0o700)
    kek = keys / "backoffice.kek"
    fd = os.open(kek, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    secret = secrets.token_urlsafe(32)
    db = data / "backoffice.db"
    (tmp / "smartborder.toml").write_text(f'''env = "test"
data_dir = "{data}"
secret_key = "{secret}"
kek_file = "{kek}"
device_token = "{secrets.token_urlsafe(32)}"
language = "en"

[backoffice]
db = "{db}"
''')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTBORDER_")}
    env["SMARTBORDER_CONFIG"] = str(tmp / "smartborder.toml")
    return env, secret, db


@contextlib.contextmanager
def backend(kind: str) -> Iterator[object]:
    """The PostgreSQL cluster for ``kind == "postgres"`` (durable: fsync and synchronous commit on, as deployed),
    else None. One cluster serves every worker count of a run; each deployment gets fresh databases."""
    if kind != "postgres":
        yield None
        return
    from storage.testing import postgres_cluster

    with postgres_cluster(durable=True, settings={"max_connections": 200}) as cluster:
        yield cluster


@contextlib.contextmanager
def deployment(kind: str, workers: int, cluster=None) -> Iterator[Deployment]:
    """A fresh deployment (config, empty databases) of ``kind`` with ``workers``; serve is started by
    :func:`start` and everything is removed on exit."""
    with tempfile.TemporaryDirectory(prefix="bo-bench-") as tmp:
        env, secret, db = _config(Path(tmp))
        env["SMARTBORDER_BACKOFFICE_WORKERS"] = str(workers)
        target, dropped = str(db), []
        if kind == "postgres":
            name = f"bench_{secrets.token_hex(4)}"
            target = cluster.create_database(name)
            env["SMARTBORDER_DATABASE_URL"] = target
            from storage.testing import keys_database

            env["SMARTBORDER_KEYS_DATABASE_URL"] = keys_database(cluster, f"{name}_k")
            dropped = [name, f"{name}_k"]
        dep = Deployment(kind, workers, target, secret, env,
                         cluster=cluster)
        try:
            yield dep
        finally:
            stop(dep)
            for name in dropped:
                cluster.drop_database(name, name)


def migrate(dep: Deployment) -> None:
    """``backoffice create-user`` for the supervisor the load logs in as (the CLI's first use creates the data's
    schema, as on a deployment's first run; serve's composition migrates the key store's database)."""
    r = subprocess.run([str(SMARTBORDER), "backoffice", "create-user", "bench-sup", "--role", "supervisor",
                        "--password-stdin"], env=dep.env, input="bench supervisor password 1\n",
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"create-user failed: {r.stderr[-2000:]}")


def start(dep: Deployment, log: Path) -> None:
    import httpx

    port = _free_port()
    sink = open(log, "w")  # noqa: SIM115 (closed by stop)
    dep.proc = subprocess.Popen([str(SMARTBORDER), "backoffice", "serve", "--port", str(port)],
                                env=dep.env, stdout=subprocess.DEVNULL, stderr=sink, text=True)
    dep.proc.log_file = sink  # type: ignore[attr-defined]
    dep.base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if dep.proc.poll() is not None:
            raise RuntimeError(f"back office exited {dep.proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{dep.base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        raise RuntimeError("back office did not start")
    while len(dep.server_pids()) < 1 + (dep.workers if dep.workers > 1 else 0) and time.monotonic() < deadline:
        time.sleep(0.3)  # every worker up before the load starts


def stop(dep: Deployment) -> None:
    if dep.proc is None or dep.proc.poll() is not None:
        return
    dep.proc.send_signal(signal.SIGTERM)
    try:
        dep.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        dep.proc.kill()
        dep.proc.wait()
    dep.proc.log_file.close()  # type: ignore[attr-defined]
