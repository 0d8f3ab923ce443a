"""Health, readiness against real and dead dependencies, metrics, JSON errors, `opensales serve`."""

import os
import socket
import subprocess
import sys
import time

import httpx
from conftest import REDIS_URL
from starlette.routing import Route
from starlette.testclient import TestClient

from errors import ApiError
from server import create_app
from settings import Settings


def client_for(**settings) -> TestClient:
    app = create_app(Settings(_env_file=None, **{"llm_backend": "off", **settings}))
    return TestClient(app, raise_server_exceptions=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_health_and_readiness_on_the_embedded_default(tmp_path):
    with client_for(data_dir=tmp_path) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_readiness_with_postgres_and_redis(postgres_url):
    with client_for(database_url=postgres_url, redis_url=REDIS_URL) as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_dead_dependencies_fail_readiness_but_not_health(tmp_path):
    dead = free_port()
    with client_for(
        database_url=f"postgresql://postgres@127.0.0.1:{dead}/nothing",
        redis_url=f"redis://127.0.0.1:{dead}/0",
        readiness_timeout_s=1.0,
    ) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"].startswith("error: OperationalError")
        assert body["checks"]["redis"].startswith("error: ConnectionError")
        assert client.get("/healthz").status_code == 200


def test_metrics_count_requests_per_route_template(tmp_path):
    with client_for(data_dir=tmp_path) as client:
        client.get("/healthz")
        client.get("/no/such/page")
        client.request("XRANDOM", "/healthz")
        text = client.get("/metrics").text
    assert "XRANDOM" not in text and 'method="other",route="/healthz",status="405"' in text
    assert 'opensales_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    bucket = 'opensales_http_request_duration_seconds_bucket{le="0.005",method="GET",'
    assert bucket + 'route="/healthz"}' in text


def test_errors_are_json_with_codes(tmp_path):
    app = create_app(Settings(_env_file=None, data_dir=tmp_path, llm_backend="off"))

    async def refuse(_request):
        raise ApiError(400, "GPS_VALIDATION_FAILED", "You are 240 m from the store.")

    async def crash(_request):
        raise RuntimeError("bug")

    app.router.routes.extend([Route("/refuse", refuse), Route("/crash", crash)])
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/missing").json() == {
            "error": {"code": "NOT_FOUND", "message": "Not Found"}
        }
        not_allowed = client.post("/healthz")
        assert not_allowed.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
        assert set(not_allowed.headers["allow"].split(", ")) == {"GET", "HEAD"}
        refused = client.get("/refuse")
        assert refused.status_code == 400
        assert refused.json()["error"] == {
            "code": "GPS_VALIDATION_FAILED",
            "message": "You are 240 m from the store.",
        }
        crashed = client.get("/crash")
        assert crashed.status_code == 500
        assert crashed.json()["error"]["code"] == "INTERNAL_ERROR"
        assert "bug" not in crashed.text


def test_opensales_serve_answers_over_http(tmp_path):
    port = free_port()
    # no model: starting one would assemble and warm it (minutes) while we only ask /readyz
    env = {**os.environ, "OPENSALES_DATA_DIR": str(tmp_path), "OPENSALES_LLM_BACKEND": "off"}
    env.pop("OPENSALES_DATABASE_URL", None)
    cli = os.path.join(os.path.dirname(sys.executable), "opensales")
    server = subprocess.Popen([cli, "serve", "--port", str(port)], env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert response.status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
