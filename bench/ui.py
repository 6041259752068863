"""`python -m bench ui`: the MLflow UI over the local store, on loopback unless asked otherwise.

`mlflow server` is a supervisor that forks uvicorn workers (and, unless disabled, a job runner
with its own consumers). Stopping only its pid leaves orphans holding the port, so the server
runs in its own session and is always stopped as a whole process group. The helpers that do
this are public because the tests and benchmarks start servers the same way.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from bench.errors import BenchError

# Chosen with benchmarks/mlflow_workers.py (figures in its docstring): with one client, 1
# worker logged ~1.6-2x more runs/s than 2 or 4, and a local UI has one user and one sweep.
DEFAULT_WORKERS = 1
# MLflow's GenAI job runner starts ~7 extra processes; the benchmark UI never uses jobs.
DEFAULT_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
# MLflow 3.17's UI opens in its GenAI (traces) view; this query selects the runs view.
UI_PATH = "/#/experiments?workflowType=machine_learning"
STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0


def canonical_host(host: str) -> str:
    """An IPv4 address in any form the C library accepts (``127.1``, ``0x7f.1``) as the dotted
    quad it means, so the loopback check and the server see the address that is bound;
    anything else unchanged. (``ipaddress`` alone refuses the short forms.)"""
    if host and not any(c.isspace() for c in host):  # inet_aton ignores text after a space
        with contextlib.suppress(OSError):
            return str(ipaddress.IPv4Address(socket.inet_aton(host)))
    return host


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(canonical_host(host).strip("[]")).is_loopback
    except ValueError:
        return False  # any other host name may resolve to a public interface


def mlflow_server_argv(
    *,
    backend_store_uri: str,
    artifacts_destination: str,
    host: str,
    port: int,
    workers: int = DEFAULT_WORKERS,
    allowed_hosts: Sequence[str] = (),
    app_name: str | None = None,
) -> list[str]:
    """The `mlflow server` command line, run with this interpreter's mlflow."""
    argv = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", artifacts_destination,
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    if allowed_hosts:
        argv += ["--allowed-hosts", ",".join(allowed_hosts)]
    if app_name:
        argv += ["--app-name", app_name]
    return argv


def start_server(
    argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server in its own session (= process group) with output going to `log_path`."""
    full_env = {**DEFAULT_SERVER_ENV, **os.environ, **(env or {})}
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
        )


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file ('' if it does not exist), for error messages."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_healthy(
    base_url: str,
    proc: subprocess.Popen[Any],
    log_path: Path,
    timeout: float = STARTUP_TIMEOUT_S,
) -> None:
    """Block until GET <base_url>/health answers 200.

    Raises RuntimeError with the server's log tail if it exits or is not up in `timeout` s.
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with code {proc.returncode} before {base_url}/health "
                f"answered; last lines of {log_path}:\n{log_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"server at {base_url} not healthy after {timeout:.0f} s; "
                f"last lines of {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(0.25)


def _live_group_members(pgid: int) -> list[int]:
    """Pids in process group `pgid` that are not zombies (Linux /proc; else killpg probe)."""
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def stop_process_group(proc: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the whole group led by `proc`, then SIGKILL whatever is left after `timeout`."""
    pgid = proc.pid  # start_new_session=True made it the group leader
    for sig, wait_s in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _live_group_members(pgid):
                return
            time.sleep(0.1)
    proc.poll()


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port (a bind test, so TIME_WAIT does not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_port_free(host: str, port: int, timeout: float = 10.0) -> bool:
    """Poll until host:port can be bound again; False if it is still taken after `timeout`."""
    deadline = time.monotonic() + timeout
    while not port_is_free(host, port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _check_basic_auth(runs_dir: Path) -> dict[str, str]:
    """What MLflow's basic-auth app needs, checked up front; returns extra server env."""
    if importlib.util.find_spec("flask_wtf") is None:
        raise BenchError(
            "--basic-auth needs MLflow's auth extra (Flask-WTF is missing): "
            "pip install 'mlflow[auth]'"
        )
    if not os.environ.get("MLFLOW_FLASK_SERVER_SECRET_KEY"):
        raise BenchError(
            "--basic-auth needs the environment variable MLFLOW_FLASK_SERVER_SECRET_KEY "
            "(a long random string, e.g. from `python -c 'import secrets; "
            "print(secrets.token_hex(32))'`)"
        )
    env: dict[str, str] = {}
    if not os.environ.get("MLFLOW_AUTH_CONFIG_PATH"):
        # Keep the user database next to the store instead of ./basic_auth.db in the cwd.
        auth_db = runs_dir.resolve() / "basic_auth.db"
        if not auth_db.exists() and not os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD"):
            raise BenchError(
                f"--basic-auth: no user database yet at {auth_db}; set "
                "MLFLOW_AUTH_ADMIN_PASSWORD to create the 'admin' user on first start"
            )
        ini = runs_dir / "basic_auth.ini"
        ini.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = sqlite:///{auth_db}\nadmin_username = admin\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(ini.resolve())
    return env


def ui_command(args: Any) -> int:
    """Serve the MLflow UI over <runs_dir>/mlflow.db until Ctrl-C or SIGTERM."""
    host = canonical_host(args.host)
    port: int = args.port
    runs_dir = Path(args.runs_dir)
    if not is_loopback(host) and not args.allow_remote:
        raise BenchError(
            f"--host {host} is not a loopback address; the MLflow server would be reachable "
            "from the network. Pass --allow-remote to do it anyway (and --basic-auth to "
            "require a login)"
        )
    if not 0 < port < 65536:
        raise BenchError(f"--port {port} is not a TCP port (1-65535)")
    db = runs_dir / "mlflow.db"
    if not db.is_file():
        raise BenchError(
            f"no MLflow store at {db}: run `python -m bench run` first, or point --runs-dir "
            "at the directory that holds mlflow.db"
        )
    env = _check_basic_auth(runs_dir) if args.basic_auth else {}
    if not port_is_free(host, port):
        raise BenchError(f"--port {port}: {host}:{port} is already in use; choose another port")
    if not is_loopback(host):
        if not args.basic_auth:
            print(
                f"warning: serving on {host}:{port} WITHOUT authentication: anyone who can "
                "reach it can read and delete runs. Use --basic-auth to require a login.",
                file=sys.stderr,
            )
        print(
            "note: MLflow answers only requests addressed to localhost or a private IP; to "
            "accept other names set MLFLOW_SERVER_ALLOWED_HOSTS=localhost:*,NAME:PORT,... "
            "(it replaces the default list).",
            file=sys.stderr,
        )

    argv = mlflow_server_argv(
        backend_store_uri=f"sqlite:///{db.resolve()}",
        artifacts_destination=str((runs_dir / "artifacts").resolve()),
        host=host,
        port=port,
        app_name="basic-auth" if args.basic_auth else None,
    )
    log_path = runs_dir / "ui.log"
    url_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{url_host}:{port}" if ":" not in url_host else f"http://[{url_host}]:{port}"

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell starts background jobs with SIGINT ignored.
    previous_int = signal.signal(signal.SIGINT, _terminate)
    previous_term = signal.signal(signal.SIGTERM, _terminate)
    proc: subprocess.Popen[bytes] | None = None
    try:
        print(f"starting the MLflow UI over {db} (log: {log_path}) ...", flush=True)
        proc = start_server(argv, log_path, env)
        try:
            wait_healthy(url, proc, log_path)
        except RuntimeError as err:
            raise BenchError(str(err)) from None
        print(f"MLflow UI: {url}{UI_PATH}  (Ctrl-C to stop)", flush=True)
        code = proc.wait()
        print(f"mlflow server stopped unexpectedly (exit {code}); see {log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping the MLflow UI ...", file=sys.stderr, flush=True)
        return 0
    finally:
        # A second Ctrl-C must not abandon a half-stopped process group.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if proc is not None:
            stop_process_group(proc)
            wait_port_free(host, port)
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
