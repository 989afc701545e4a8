"""`callpool serve` says in one line where it listens and what runs, and nothing more at INFO."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.cli.test_startup_errors import AMI_SECRET, PBX

LINE = re.compile(
    r"callpool on (?P<url>http://127\.0\.0\.1:\d+) \(database SQLite (?P<db>\S+); "
    r"scheduler on; AMI listeners: main\)"
)


def _first_line(path: Path, proc: subprocess.Popen[bytes], deadline: float) -> str:
    while time.monotonic() < deadline:
        text = path.read_text()
        if "\n" in text:
            return text.splitlines()[0]
        assert proc.poll() is None, path.read_text()
        time.sleep(0.1)
    raise AssertionError("serve printed no line")


def test_serve_prints_where_it_listens_and_keeps_job_names_out_of_info(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CALLPOOL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'callpool.db'}",
        "CALLPOOL_SCHEDULER_ENABLED": "true",
        "CALLPOOL_LOG_LEVEL": "INFO",
        "CALLPOOL_AMI_ENABLED": "true",
        # A PBX nobody answers for: its listener retries in the background.
        "CALLPOOL_PBX": f'[{PBX}, "port": 1}}]',
        "CALLPOOL_JOURNAL_DIR": str(tmp_path / "journal"),
    }
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "callpool.cli", "serve", "--port", "0"],
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            line = _first_line(out, proc, time.monotonic() + 30)
            found = LINE.fullmatch(line)
            assert found, line
            assert found["db"] == str(tmp_path / "callpool.db")
            # The URL is the real one (503 only because nobody answers for the PBX).
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(f"{found['url']}/healthz", timeout=5)
            assert json.loads(answer.value.read())["checks"]["database"]["ok"] is True
            time.sleep(1.0)  # the scheduler's first run is due at start
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert out.read_text().splitlines() == [line]
    log = err.read_text()
    assert "INFO callpool database schema upgraded from empty to " in log
    for internal in ("apscheduler", "Added job", "Running job", "_guarded", "expire_leases"):
        assert internal not in log
    assert AMI_SECRET not in log + line
