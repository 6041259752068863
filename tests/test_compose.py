"""docker-compose.yml, Dockerfile and .env.example: consistent on paper, and runnable natively.

Docker cannot run on the development machines, so the static checks catch what `docker
compose config` would, and the native tests run the same commands the services run (MLflow
server over PostgreSQL, the Optuna database creation, Dask scheduler and worker), with only
the addresses, the database and the artifact location swapped for local ones.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from mlflow import MlflowClient

from tests.support.servers import (
    LOCALHOST,
    PG_HOST,
    PG_PORT,
    PG_USER,
    free_port,
    postgres_database,
    server_process,
)

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[1]
VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}")
# Access keys are user names; the secrets are the passwords, secret keys and tokens.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN", re.IGNORECASE)


def load_env_example() -> dict[str, str]:
    env = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: line without '=': {line!r}"
            env[key.strip()] = value.strip()
    return env


ENV = load_env_example()
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def interpolate(value: str) -> str:
    """What compose does with .env = .env.example: ${VAR} replaced, $$ -> $."""
    return VAR.sub(lambda m: ENV[m.group(1)], value).replace("$$", "$")


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def as_list(command: Any) -> list[str]:
    return [command] if isinstance(command, str) else [str(c) for c in command or []]


def flag(argv: list[str], name: str) -> str:
    """Value of `--name value` in an argv list."""
    assert name in argv, f"{name} missing from {argv}"
    return argv[argv.index(name) + 1]


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on", {})
    return {d: {} for d in deps} if isinstance(deps, list) else deps


def service_argv(name: str) -> list[str]:
    svc = SERVICES[name]
    return [interpolate(a) for a in as_list(svc.get("entrypoint")) + as_list(svc.get("command"))]


def service_env(name: str) -> dict[str, str]:
    env = SERVICES[name].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: interpolate(str(v)) for k, v in env.items()}


# --- static consistency ---------------------------------------------------------------


def test_every_service_has_image_or_build() -> None:
    for name, svc in SERVICES.items():
        assert "image" in svc or "build" in svc, f"service {name}: neither image nor build"
        if "build" in svc:
            context = svc["build"] if isinstance(svc["build"], str) else svc["build"]["context"]
            assert (ROOT / context / "Dockerfile").is_file(), f"service {name}: no Dockerfile"


def test_depends_on_targets_exist_with_matching_conditions() -> None:
    for name, svc in SERVICES.items():
        for target, spec in depends_on(svc).items():
            assert target in SERVICES, f"service {name} depends on unknown service {target}"
            condition = spec.get("condition", "service_started")
            assert condition in (
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            ), f"{name} -> {target}: unknown condition {condition}"
            if condition == "service_healthy":
                check = SERVICES[target].get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), (
                    f"{name} waits for {target} to be healthy but {target} has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert SERVICES[target].get("restart") == "no", f"{target} must be one-shot"


def test_long_running_services_have_healthchecks() -> None:
    for name, svc in SERVICES.items():
        if svc.get("restart") != "no":
            assert svc.get("healthcheck", {}).get("test"), f"service {name}: no healthcheck"


def test_named_volumes_are_declared() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    used = set()
    for name, svc in SERVICES.items():
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0] if isinstance(vol, str) else vol.get("source", "")
            if source and not source.startswith((".", "/", "~", "$")):
                assert source in declared, f"service {name}: volume {source} not declared"
                used.add(source)
    assert used == declared, f"declared but unused volumes: {declared - used}"


def test_ports_are_well_formed_and_unique() -> None:
    pattern = re.compile(
        r"^(?:(?P<ip>[0-9.]+|\[[0-9a-f:]+\]):)?(?P<host>\d+):(?P<ctr>\d+)(/tcp|/udp)?$"
    )
    host_ports: dict[str, str] = {}
    for name, svc in SERVICES.items():
        for spec in svc.get("ports", []):
            assert isinstance(spec, str), f"service {name}: quote port {spec!r} (YAML base 60)"
            m = pattern.match(interpolate(spec))
            assert m, f"service {name}: malformed port {spec!r} -> {interpolate(spec)!r}"
            for part in ("host", "ctr"):
                assert 0 < int(m.group(part)) < 65536, f"service {name}: port {spec}"
            assert m.group("host") not in host_ports, (
                f"host port {m.group('host')} used by {name} and {host_ports[m.group('host')]}"
            )
            host_ports[m.group("host")] = name
    assert ENV["BIND_ADDRESS"] == "127.0.0.1", ".env.example must publish on loopback only"


def test_no_literal_secrets() -> None:
    for name, svc in SERVICES.items():
        env = svc.get("environment", {})
        items = env.items() if isinstance(env, dict) else (e.split("=", 1) for e in env)
        for key, value in items:
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{\w+\}", str(value)), (
                    f"service {name}: {key} must come from .env as ${{VAR}}, not {value!r}"
                )
    for text in strings(SERVICES):
        for userinfo in re.findall(r"://[^/@\s]*:([^/@\s]*)@", text):
            assert re.fullmatch(r"\$\{\w+\}", userinfo), f"password in URL {text!r}"
    for key, value in ENV.items():
        if SECRET_NAME.search(key):
            assert "change-me" in value, f".env.example: {key} must be a change-me placeholder"
            assert value not in COMPOSE_TEXT, f"the value of {key} is written in the compose file"


def test_every_variable_is_defined_in_env_example_and_used() -> None:
    used = set(VAR.findall(COMPOSE_TEXT))
    assert used - ENV.keys() == set(), f"not in .env.example: {sorted(used - ENV.keys())}"
    assert ENV.keys() - used == set(), f"unused in docker-compose.yml: {sorted(ENV.keys() - used)}"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_mlflow_service_command() -> None:
    argv = service_argv("mlflow")
    assert argv[:4] == ["python", "-m", "mlflow", "server"]
    assert flag(argv, "--backend-store-uri").startswith("postgresql://")
    assert flag(argv, "--backend-store-uri").endswith(f"@postgres:5432/{ENV['POSTGRES_DB']}")
    assert flag(argv, "--artifacts-destination") == f"s3://{ENV['MLFLOW_BUCKET']}/"
    allowed = flag(argv, "--allowed-hosts").split(",")
    assert {"mlflow:5000", "localhost"} <= set(allowed)
    assert flag(argv, "--host") == "0.0.0.0" and flag(argv, "--port") == "5000"
    assert int(flag(argv, "--workers")) >= 1
    env = service_env("mlflow")
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= env.keys()
    assert "/health" in " ".join(as_list(SERVICES["mlflow"]["healthcheck"]["test"]))
    deps = depends_on(SERVICES["mlflow"])
    assert deps["minio-init"]["condition"] == "service_completed_successfully"
    assert deps["postgres"]["condition"] == "service_healthy"


def test_bench_and_dask_services_point_at_each_other() -> None:
    bench = service_argv("bench")
    assert SERVICES["bench"].get("entrypoint") is None  # the image's: python -m bench
    assert bench[0] == "run"
    assert flag(bench, "--storage").startswith("postgresql://")
    assert flag(bench, "--storage").endswith(f"@postgres:5432/{ENV['OPTUNA_DB']}")
    assert ENV["OPTUNA_DB"] != ENV["POSTGRES_DB"]  # both keep an alembic_version table
    scheduler = service_argv("scheduler")
    assert flag(bench, "--scheduler") == f"tcp://scheduler:{flag(scheduler, '--port')}"
    assert service_argv("worker")[2] == flag(bench, "--scheduler")
    for name in ("bench", "worker"):
        assert service_env(name)["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_worker_is_scalable() -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker, "a container_name prevents --scale worker=N"
    for spec in worker.get("ports", []):
        assert ":" not in str(spec), f"worker publishes a fixed host port: {spec}"


def test_dockerfile() -> None:
    lines = [ln.strip() for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.strip()]
    assert lines[[ln.startswith("#") for ln in lines].index(False)] == "FROM python:3.11-slim"
    assert 'ENTRYPOINT ["python", "-m", "bench"]' in lines
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any("pip install" in ln for ln in lines)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".env", "runs/"} <= set(ignored)
    # the entrypoint exists: the module runs with the same interpreter
    result = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True)
    assert result.returncode == 0, result.stderr


# --- the same commands, run natively --------------------------------------------------


def native(argv: list[str], replace: dict[str, str]) -> list[str]:
    """`argv` with the values of the flags in `replace` swapped (addresses, stores)."""
    out = list(argv)
    for name, value in replace.items():
        out[out.index(name) + 1] = value
    return out


def get_status(port: int, path: str, host_header: str) -> int:
    conn = http.client.HTTPConnection(LOCALHOST, port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host_header})
        return conn.getresponse().status
    finally:
        conn.close()


def test_mlflow_service_runs_natively_on_postgres(tmp_path: Path) -> None:
    port = free_port()
    with postgres_database() as db_url:
        argv = native(
            service_argv("mlflow"),
            {
                "--backend-store-uri": db_url,
                "--artifacts-destination": str(tmp_path / "artifacts"),
                "--host": LOCALHOST,
                "--port": str(port),
            },
        )
        argv[:1] = [sys.executable]
        base = f"http://{LOCALHOST}:{port}"
        with server_process(argv, f"{base}/health", port, env=service_env("mlflow")):
            search = "/api/2.0/mlflow/experiments/search?max_results=1"
            assert get_status(port, search, "mlflow:5000") == 200  # what the workers send
            assert get_status(port, search, f"localhost:{port}") == 200
            assert get_status(port, search, "evil.example.com") == 403
            client = MlflowClient(tracking_uri=base)
            exp = client.create_experiment("compose-check")
            run = client.create_run(exp, run_name="r")
            (tmp_path / "note.txt").write_text("served by --artifacts-destination")
            client.log_artifact(run.info.run_id, str(tmp_path / "note.txt"))
            client.set_terminated(run.info.run_id)
            assert list((tmp_path / "artifacts").rglob("note.txt")), "artifact not proxied"
            healthcheck = [
                interpolate(a).replace("localhost:5000", f"{LOCALHOST}:{port}")
                for a in SERVICES["mlflow"]["healthcheck"]["test"][1:]
            ]
            healthcheck[0] = sys.executable
            assert subprocess.run(healthcheck, timeout=30).returncode == 0


def test_db_init_creates_the_optuna_database_idempotently() -> None:
    svc = SERVICES["db-init"]
    script = interpolate(svc["command"][0])
    name = f"bench_test_optuna_{secrets.token_hex(4)}"
    env = {
        **service_env("db-init"),
        "PGHOST": PG_HOST,
        "PGPORT": str(PG_PORT),
        "PGUSER": PG_USER,
        "PGPASSWORD": "",
        "OPTUNA_DB": name,
        "PATH": os.environ["PATH"],
    }
    with postgres_database():  # skips (or fails on CI) when PostgreSQL is not there
        pass
    try:
        for _ in range(2):  # a second `docker compose up` must not fail
            result = subprocess.run(
                as_list(svc["entrypoint"]) + [script], env=env, capture_output=True,
                text=True, timeout=60,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=name) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
    finally:
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
        ) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_dask_scheduler_and_worker_run_natively() -> None:
    from dask.utils import parse_bytes
    from distributed import Client

    port, dash, worker_dash = free_port(), free_port(), free_port()
    scheduler = native(
        service_argv("scheduler"),
        {"--host": LOCALHOST, "--port": str(port), "--dashboard-address": f"{LOCALHOST}:{dash}"},
    )
    address = f"tcp://{LOCALHOST}:{port}"
    worker = native(service_argv("worker"), {"--dashboard-address": f"{LOCALHOST}:{worker_dash}"})
    worker[2] = address
    worker = worker[:2] + ["--host", LOCALHOST] + worker[2:]
    scheduler[:1] = worker[:1] = [sys.executable, "-m", "dask"]  # this environment's dask
    with (
        server_process(scheduler, f"http://{LOCALHOST}:{dash}/health", port),
        server_process(worker, f"http://{LOCALHOST}:{worker_dash}/health", worker_dash),
        Client(address, timeout=30) as client,
    ):
        client.wait_for_workers(1, timeout=30)
        info = client.scheduler_info()["workers"]
        assert len(info) == 1
        (w,) = info.values()
        assert w["nthreads"] == 1
        assert w["memory_limit"] == parse_bytes(ENV["DASK_WORKER_MEMORY"])
        assert client.submit(sum, [1, 2, 3]).result(timeout=30) == 6


def test_postgres_database_is_dropped_even_when_the_test_fails() -> None:
    """Self-test of the fixture every PostgreSQL test relies on."""
    sessions = []
    with pytest.raises(RuntimeError, match="boom"), postgres_database() as url:
        name = url.rsplit("/", 1)[1]
        sessions.append(psycopg.connect(url))  # still open at the drop: needs WITH (FORCE)
        sessions[0].execute("CREATE TABLE t (x int)")
        raise RuntimeError("boom")
    sessions[0].close()
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    ) as admin:
        assert (
            admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is None
        )
