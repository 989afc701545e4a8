"""ops/check-containers.sh passes on the repository and fails on a broken copy."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.tools import REPO, require_ops_tools, tool_path

# What the script reads, copied so that a test can break one of them.
FILES = (
    "Dockerfile",
    "docker-compose.yml",
    "asterisk/Dockerfile",
    "asterisk/container/entrypoint.sh",
    "ops/check-containers.sh",
)


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_ops_tools()


def run_check(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": tool_path()}
    return subprocess.run(
        ["bash", str(REPO / "ops" / "check-containers.sh"), str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in FILES:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    return tmp_path


def test_the_repository_passes() -> None:
    done = run_check(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    for what in ("hadolint Dockerfile", "hadolint asterisk/Dockerfile", "shellcheck"):
        assert f"ok: {what}" in done.stdout
    assert "ok: docker-compose.yml against the compose schema" in done.stdout


def test_an_unpinned_base_image_fails(copy: Path) -> None:
    dockerfile = copy / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace("ARG PYTHON_IMAGE=python:3.11-slim-bookworm", "ARG X=1")
        + "\nFROM python\n"
    )
    done = run_check(copy)
    assert done.returncode == 1
    assert "FAILED: hadolint Dockerfile" in done.stderr
    assert "DL3006" in done.stdout  # "Always tag the version of an image explicitly"


def test_an_apt_install_without_cleanup_fails_in_the_asterisk_image(copy: Path) -> None:
    dockerfile = copy / "asterisk" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN apt-get install -y curl\n")
    done = run_check(copy)
    assert done.returncode == 1
    assert "FAILED: hadolint asterisk/Dockerfile" in done.stderr
    assert "ok: hadolint Dockerfile" in done.stdout


def test_an_unknown_depends_on_condition_fails(copy: Path) -> None:
    compose = copy / "docker-compose.yml"
    text = compose.read_text()
    assert "condition: service_completed_successfully" in text
    compose.write_text(text.replace("service_completed_successfully", "service_finished"))
    done = run_check(copy)
    assert done.returncode == 1
    assert "FAILED: docker-compose.yml against the compose schema" in done.stderr


def test_an_unquoted_variable_in_the_entrypoint_fails(copy: Path) -> None:
    script = copy / "asterisk" / "container" / "entrypoint.sh"
    script.write_text(script.read_text().replace('exec "$@"', "exec $@"))
    done = run_check(copy)
    assert done.returncode == 1
    assert "FAILED: shellcheck" in done.stderr
