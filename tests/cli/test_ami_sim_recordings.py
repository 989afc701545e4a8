"""`callpool ami-sim --recordings-dir`: rehearse recordings without a PBX.

The command runs as a process; a client logs in over loopback and reads the recorded
call's Cdr, and the file its RecordingFile names appears under the directory as real
audio (espeak-ng and sox, as the simulator's recorder uses them).
"""

from __future__ import annotations

import itertools
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from callpool.cli import main
from callpool.pbx.sim.recorder import missing_tools
from callpool.pbx.sim.scenarios import random_calls
from callpool.pbx.sim.streams import IdAllocator


def _recording_files(frames: list[bytes]) -> list[str]:
    return [
        line.removeprefix(b"RecordingFile: ").decode()
        for frame in frames
        for line in frame.split(b"\r\n")
        if line.startswith(b"RecordingFile: ")
    ]


def test_random_calls_record_the_answered_ones_and_play_the_same_calls() -> None:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).replace(tzinfo=None)
    plain = [f.frame for f in itertools.islice(random_calls(IdAllocator(), start, seed=7), 400)]
    recorded = [
        f.frame
        for f in itertools.islice(random_calls(IdAllocator(), start, seed=7, record="wav"), 400)
    ]
    answered = sum(b"Disposition: ANSWERED" in f and b"Event: Cdr" in f for f in recorded)
    names = _recording_files(recorded)
    assert answered > 0 and _recording_files(plain) == []
    # Every answered inbound call is recorded, as a .wav under YYYY/MM/DD like FreePBX.
    assert len(names) >= 1 and all(re.fullmatch(r"\d{4}/\d\d/\d\d/in-.+\.wav", n) for n in names)
    # The same calls, only the RecordingFile header added.
    strip = re.compile(rb"RecordingFile: [^\r]*\r\n")
    assert [strip.sub(b"", f) for f in recorded] == plain


@pytest.mark.skipif(bool(missing_tools()), reason="needs espeak-ng and sox")
def test_ami_sim_writes_the_recorded_calls_audio(tmp_path: Path) -> None:
    monitor = tmp_path / "monitor"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "callpool.cli", "ami-sim", "--port", "0", "--speed", "0",
            "--scenario", "recorded", "--recordings-dir", str(monitor),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline() == "AMI simulator for user 'callpool'; Ctrl-C to stop\n"
        assert proc.stdout.readline() == f"recordings written to {monitor}\n"
        found = re.match(r"AMI simulator listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline())
        assert found
        with socket.create_connection(("127.0.0.1", int(found.group(1))), timeout=10) as sock:
            sock.sendall(
                b"Action: Login\r\nUsername: callpool\r\nSecret: secret\r\nActionID: 1\r\n\r\n"
            )
            received = b""
            while not re.search(rb"Event: Cdr\r\n.*?\r\n\r\n", received, re.S):
                chunk = sock.recv(65536)
                assert chunk, received[-200:]
                received += chunk
        (name,) = _recording_files([received])
        target = monitor / name
        deadline = time.monotonic() + 60
        while not target.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        data = target.read_bytes()
        assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) > 10_000
        assert list(monitor.rglob("*.part")) == []
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
        assert (proc.returncode, rest) == (0, "AMI simulator stopped\n")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_ami_sim_refuses_a_recordings_dir_that_is_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "monitor"
    a_file.write_text("not a directory")
    result = CliRunner().invoke(main, ["ami-sim", "--recordings-dir", str(a_file)])
    assert result.exit_code == 2
    assert "is a file" in result.stderr
