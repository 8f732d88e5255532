"""Two replicas as docs/operations.md deploys them: two `modelreg serve` processes on one
PostgreSQL database (created for the test) and the machine's Redis, behind nginx. What one
replica changes, the other sees within 1.5 s; rate limits hold across both; a session ended on
one is refused by the other."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from modelreg.crypto import generate_key
from modelreg.simulators import SimulatorServer
from tests.fixtures.db import _pg_reachable, pg_admin

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

MODELREG = Path(sys.executable).with_name("modelreg")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ADMIN_PASSWORD = "replica-admin-password-0123"
PROPAGATION = 1.5  # seconds: the cache poll interval (1 s) plus a request


def _require(ok: bool, reason: str) -> None:
    if ok:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up: {log.read_text()[-2000:]}")


@dataclass
class Cluster:
    replicas: list[str]  # base URLs of the two serve processes
    front: str  # nginx

    def login(self, base: str, username: str, password: str) -> httpx.Client:
        http = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
        page = http.get("/login")
        assert page.status_code == 200
        form = {"username": username, "password": password, "csrf_token": _csrf(http)}
        answer = http.post("/login", data=form)
        assert answer.status_code in (302, 303), answer.text
        return http


def _nginx_conf(prefix: Path, port: int, replicas: list[str]) -> Path:
    servers = "\n".join(f"        server {r.removeprefix('http://')};" for r in replicas)
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream modelreg {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://modelreg;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_read_timeout 600s;
        }}
    }}
}}
""")
    return conf


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    _require(_pg_reachable(), "PostgreSQL is not reachable at 127.0.0.1:5432")
    _require(_redis_up(), "Redis is not reachable at 127.0.0.1:6379")
    _require(Path(NGINX).exists(), "nginx is not installed")
    tmp = tmp_path_factory.mktemp("replicas")
    name = f"modelreg_replicas_{uuid.uuid4().hex[:10]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    for var in ("LLM_PROVIDER", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        env.pop(var, None)
    env |= {
        "MODELREG_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
        "MODELREG_REDIS_URL": "redis://127.0.0.1:6379/0",
        "MODELREG_ENCRYPTION_KEY": generate_key(),
        "MODELREG_SESSION_SECRET": uuid.uuid4().hex * 2,
        "MODELREG_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MODELREG_ALLOW_PRIVATE_BASE_URLS": "true",
        "MODELREG_USER_RPM_LIMIT": "5",
        "MODELREG_LOGIN_ATTEMPTS_PER_MINUTE": "0",
        "MODELREG_LOG_LEVEL": "WARNING",
    }
    subprocess.run([str(MODELREG), "db", "upgrade"], env=env, check=True, capture_output=True)
    procs: list[subprocess.Popen[bytes]] = []
    replicas = []
    try:
        for i in range(2):  # one after the other: the first creates the admin
            port = _free_port()
            log = tmp / f"replica-{i}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [str(MODELREG), "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            procs.append(proc)
            _wait_http(f"http://127.0.0.1:{port}/readyz", proc, log)
            replicas.append(f"http://127.0.0.1:{port}")
        front_port = _free_port()
        conf = _nginx_conf(tmp, front_port, replicas)
        with (tmp / "nginx.out").open("wb") as nginx_out:
            nginx = subprocess.Popen(
                [NGINX, "-c", str(conf), "-p", str(tmp), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=nginx_out,
            )
        procs.append(nginx)
        _wait_http(f"http://127.0.0.1:{front_port}/healthz", nginx, tmp / "nginx.out")
        yield Cluster(replicas, f"http://127.0.0.1:{front_port}")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _csrf(http: httpx.Client) -> str:
    return http.cookies.get("modelreg_csrf") or ""


def _token(base: str, username: str, password: str) -> str:
    """An API token, made the way a user does: sign in, then create one."""
    http = Cluster([base], base).login(base, username, password)
    try:
        answer = http.post(
            "/api/tokens", json={"name": "replica"}, headers={"X-CSRF-Token": _csrf(http)}
        )
        assert answer.status_code == 201, answer.text
        token: str = answer.json()["token"]
        return token
    finally:
        http.close()


def _until(check: Callable[[], bool], limit: float) -> float:
    """Seconds until `check()` holds; fails after `limit` (and a grace of 3 s, for the
    message)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > limit + 3:
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    assert elapsed <= limit, f"took {elapsed:.2f} s, more than {limit} s"
    return elapsed


def test_an_edit_on_one_replica_is_seen_by_the_other(
    cluster: Cluster, openai_sim: SimulatorServer
) -> None:
    a, b = cluster.replicas
    token = _token(a, "admin", ADMIN_PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    name = f"replicated-{uuid.uuid4().hex[:8]}"
    with httpx.Client(headers=headers, timeout=30) as http:
        assert http.get(f"{b}/api/models").status_code == 200  # B has its cache filled
        created = http.post(
            f"{a}/api/models",
            json={
                "name": name,
                "provider": "openai",
                "base_url": openai_sim.base_url,
                "model_id": "sim-model",
                "api_key": "sk-replica",
                "is_global": True,
            },
        )
        assert created.status_code == 201, created.text
        model_id = created.json()["id"]

        def b_lists_it() -> bool:
            return any(m["name"] == name for m in http.get(f"{b}/api/models").json())

        _until(b_lists_it, PROPAGATION)
        assert http.patch(f"{a}/api/models/{model_id}", json={"enabled": False}).status_code == 200

        def b_refuses_it() -> bool:
            answer = http.post(
                f"{b}/v1/chat/completions",
                json={"model": name, "messages": [{"role": "user", "content": "hi"}]},
            )
            return answer.status_code == 404

        _until(b_refuses_it, PROPAGATION)


def test_rate_limits_hold_across_both_replicas(
    cluster: Cluster, openai_sim: SimulatorServer
) -> None:
    """MODELREG_USER_RPM_LIMIT=5 in Redis: five calls through nginx (round robin over both
    replicas) pass, the sixth is refused, whichever replica it reaches."""
    admin = _token(cluster.front, "admin", ADMIN_PASSWORD)
    name = f"limited-{uuid.uuid4().hex[:8]}"
    with httpx.Client(headers={"Authorization": f"Bearer {admin}"}, timeout=30) as http:
        assert (
            http.post(
                f"{cluster.front}/api/models",
                json={
                    "name": name,
                    "provider": "openai",
                    "base_url": openai_sim.base_url,
                    "model_id": "sim-model",
                    "api_key": openai_sim.api_key,
                    "is_global": True,
                },
            ).status_code
            == 201
        )
        username = f"u{uuid.uuid4().hex[:8]}"
        password = "a-long-enough-password"
        assert (
            http.post(
                f"{cluster.front}/api/users",
                json={"username": username, "password": password, "role": "user"},
            ).status_code
            == 201
        )
    time.sleep(PROPAGATION)  # both replicas know the model
    token = _token(cluster.front, username, password)
    statuses = []
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        for i in range(8):
            base = cluster.replicas[i % 2]  # alternate explicitly: nginx may keep one
            answer = http.post(
                f"{base}/v1/chat/completions",
                json={"model": name, "messages": [{"role": "user", "content": "hi"}]},
            )
            statuses.append(answer.status_code)
    assert statuses[:5] == [200] * 5, statuses
    assert set(statuses[5:]) == {429}, statuses


def test_a_session_ended_on_one_replica_is_refused_by_the_other(cluster: Cluster) -> None:
    a, b = cluster.replicas
    http = cluster.login(a, "admin", ADMIN_PASSWORD)
    cookies = dict(http.cookies)
    with httpx.Client(base_url=b, cookies=cookies, timeout=30) as other:
        assert other.get("/api/users/me").status_code == 200  # the same session works on B
        answer = http.post("/logout", data={"csrf_token": _csrf(http)})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login"

        def b_refuses() -> bool:
            return other.get("/api/users/me").status_code == 401

        _until(b_refuses, PROPAGATION)
    http.close()
