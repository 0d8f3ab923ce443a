"""Static checks of the deployment files (there is no Docker engine to run them here)."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_dockerfile_passes_hadolint():
    result = subprocess.run(
        [BIN / "hadolint", "--config", ROOT / ".hadolint.yaml", ROOT / "Dockerfile"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_compiles_llama_cpp_in_the_build_stage_with_a_cuda_switch():
    text = (ROOT / "Dockerfile").read_text()
    build, runtime = text.split("AS runtime")
    assert 'CMAKE_ARGS="${LLAMA_CMAKE_ARGS}" pip install' in build
    assert "ARG LLAMA_CMAKE_ARGS=" in build and "ARG BASE_IMAGE=" in text
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert "build-essential" not in runtime


def test_compose_file_is_valid_and_wires_the_services():
    result = subprocess.run(
        [
            BIN / "docker-compose",
            "-f",
            ROOT / "compose.yaml",
            "--profile",
            "worker",
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert set(services) == {"server", "worker", "postgres", "redis"}
    env = services["server"]["environment"]
    assert env["OPENSALES_DATABASE_URL"].startswith("postgresql://opensales:")
    assert "@postgres:5432/" in env["OPENSALES_DATABASE_URL"]
    assert env["OPENSALES_REDIS_URL"] == "redis://redis:6379/0"
    assert services["server"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_package_is_declared_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in ROOT.rglob("__init__.py")
        if not {"tests", ".venv", "build"} & set(init.relative_to(ROOT).parts)
    }
    assert found == declared
    modules = {p.stem for p in ROOT.glob("*.py")}
    assert modules == set(config["py-modules"])
