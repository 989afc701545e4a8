"""`callpool ami check` against a real AMI simulator on loopback; `callpool ami-sim` as a process.

The check command runs its own event loop (``asyncio.run``), so the simulator serves
from another thread with its own loop.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from callpool.cli import main
from callpool.cli.ami import EVENT_CLASS, CheckResult, describe_check
from callpool.pbx.assembly.dialplan import PbxDialplan
from callpool.pbx.assembly.folds import FOLDS
from callpool.pbx.sim.server import AmiSimulator
from callpool.settings import PbxSettings, load_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
SECRET = "s3cr3t-never-printed"


class SimThread:
    """An AmiSimulator serving from its own thread and event loop."""

    def __init__(self, make: Callable[[], AmiSimulator]) -> None:
        self._make = make
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self.port = 0

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self._make() as sim:
            self.sim = sim
            self.port = sim.port
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> SimThread:
        self._thread.start()
        assert self._ready.wait(10), "the simulator did not start"
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def write_config(path: Path, *pbxes: tuple[str, int, str]) -> Path:
    tables = [
        f'[[pbx]]\nname = "{name}"\nport = {port}\nusername = "callpool"\nsecret = "{secret}"\n'
        for name, port, secret in pbxes
    ]
    path.write_text("\n".join(tables))
    return path


def run_check(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(config), "ami", "check", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def capture_sim() -> Iterator[SimThread]:
    with SimThread(
        lambda: AmiSimulator.from_capture(FIXTURES / "answered.ami", secret=SECRET)
    ) as s:
        yield s


def test_check_logs_in_prints_the_version_and_counts_events(
    capture_sim: SimThread, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.toml", ("main", capture_sim.port, SECRET))
    code, out, err = run_check(config, "--listen", "1")
    assert (code, err) == (0, "")
    assert f"main: logged in to 127.0.0.1:{capture_sim.port} as 'callpool'" in out
    assert "Asterisk 22.10.1 (AMI 11.0.0), CDR enabled" in out
    # answered.ami: 127 events (README: VarSet x48, Newexten x23, ..., Cdr x1).
    assert "127 events in 1 s:" in out
    for line in ("VarSet 48", "Newexten 23", "Newchannel 4", "Hangup 4", "Cdr 1"):
        assert f"\n    {line}\n" in out
    assert "call events callpool uses: 8 of 8 seen" in out
    assert "Cdr events: 1" in out
    assert "71 Newexten/VarSet events (class dialplan)" in out  # the read = dialplan hint
    assert SECRET not in out


def test_wrong_secret_is_one_clear_line_without_the_secret(
    capture_sim: SimThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-" + SECRET
    config = write_config(tmp_path / "c.toml", ("main", capture_sim.port, wrong))
    code, out, err = run_check(config)
    assert code == 2 and out == ""
    assert err == (
        f"error: main: 127.0.0.1:{capture_sim.port} refused the login of user 'callpool': "
        "Authentication failed (check username and secret in the [[pbx]] settings and "
        "manager.conf)\n"
    )
    assert wrong not in caplog.text and SECRET not in caplog.text
    assert capture_sim.sim.failed_logins >= 1


def test_unreachable_pbx_is_one_clear_line(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path / "c.toml", ("main", port, SECRET))
    started = time.monotonic()
    code, out, err = run_check(config)
    assert code == 2 and out == ""
    assert err.startswith(f"error: main: 127.0.0.1:{port} cannot be reached: ")
    assert "ConnectionRefusedError" in err and err.count("\n") == 1
    assert time.monotonic() - started < 5  # the first refusal is reported, no retrying


def test_an_idle_pbx_gets_a_hint(tmp_path: Path) -> None:
    with SimThread(lambda: AmiSimulator(secret=SECRET)) as sim:
        config = write_config(tmp_path / "c.toml", ("idle", sim.port, SECRET))
        code, out, _ = run_check(config, "--listen", "0.3")
    assert code == 0
    assert "1 events in 0.3 s:\n    FullyBooted 1\n" in out
    assert "call events callpool uses: 0 of 8 seen" in out
    assert "hint: no events in 0.3 s: place a test call during the check" in out


def test_every_pbx_is_checked_and_one_failure_fails_the_command(
    capture_sim: SimThread, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "c.toml", ("good", capture_sim.port, SECRET), ("bad", free_port(), SECRET)
    )
    code, out, err = run_check(config, "--listen", "0.2")
    assert code == 2
    assert "good: logged in" in out and "error: bad: 127.0.0.1:" in err
    code, out, err = run_check(config, "--pbx", "good", "--listen", "0.2")
    assert code == 0 and "good: logged in" in out and err == ""
    code, _, err = run_check(config, "--pbx", "other")
    assert (code, err) == (2, "error: no PBX named 'other' (configured: good, bad)\n")


def test_no_pbx_configured(tmp_path: Path) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    assert run_check(config)[0::2] == (
        2,
        "error: no PBX configured: add a [[pbx]] table or set CALLPOOL_PBX\n",
    )


PBX = PbxSettings(name="main", username="callpool", secret=SecretStr(SECRET))


def test_hints_for_missing_cdrs_and_a_refused_core_settings() -> None:
    result = CheckResult(listened=5, refused="Permission denied")
    result.counts.update({"Newchannel": 2, "Hangup": 2, "DialBegin": 1})
    text = "\n".join(describe_check(PBX, result))
    assert "CoreSettings refused (Permission denied); give the user write = reporting" in text
    assert "calls ended but no Cdr event came: enable cdr_manager.conf" in text
    assert "not seen: BridgeEnter (call), BridgeLeave (call)" in text
    result = CheckResult(listened=5, version="22.10.1", cdr_enabled="No")
    result.counts.update({"DeviceStateChange": 3})
    text = "\n".join(describe_check(PBX, result))
    assert "Asterisk 22.10.1 (AMI ?), CDR disabled" in text
    assert "hint: no call events: add call to read =" in text
    assert "hint: CDRs are disabled in Asterisk" in text


def test_event_classes_are_those_the_captures_show() -> None:
    # What asterisk/manager.conf grants (read = call,cdr,agent) must cover every event the
    # call assembly folds: their Privilege headers in the real captures say which class.
    privileges: dict[str, set[str]] = {}
    for path in FIXTURES.glob("*.ami"):
        for frame in path.read_bytes().split(b"\r\n\r\n"):
            found = re.search(rb"^Event: (\w+)\r\nPrivilege: ([\w,]+)", frame, re.M)
            if found:
                event, privilege = found.group(1).decode(), found.group(2).decode()
                privileges.setdefault(event, set()).add(privilege)
    assert set(EVENT_CLASS) == set(FOLDS)
    for event, cls in EVENT_CLASS.items():
        assert privileges[event] == {f"{cls},all"}, event
    assert {cls for cls in EVENT_CLASS.values()} == {"call", "cdr", "agent"}
    assert privileges["Newexten"] == privileges["VarSet"] == {"dialplan,all"}


# --- ami-sim -----------------------------------------------------------------------------
def test_ami_sim_serves_a_capture_until_stopped() -> None:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "callpool.cli", "ami-sim", "--port", "0", "--speed", "0",
            "--capture", str(FIXTURES / "answered.ami"), "--username", "u", "--secret", "p",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline() == "AMI simulator for user 'u'; Ctrl-C to stop\n"
        listening = proc.stdout.readline()
        found = re.match(r"AMI simulator listening on 127\.0\.0\.1:(\d+), playing ", listening)
        assert found, listening
        with socket.create_connection(("127.0.0.1", int(found.group(1))), timeout=10) as sock:
            reader = sock.makefile("rb")
            assert reader.readline() == b"Asterisk Call Manager/11.0.0\r\n"
            sock.sendall(b"Action: Login\r\nUsername: u\r\nSecret: p\r\nActionID: 1\r\n\r\n")
            received = b""
            while b"Event: Cdr\r\n" not in received:
                chunk = sock.recv(65536)
                assert chunk, received[-200:]
                received += chunk
            assert received.startswith(
                b"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n"
                b"Event: FullyBooted\r\n"
            )
            assert received.count(b"Event: Newchannel\r\n") == 4
            reader.close()
        proc.send_signal(signal.SIGTERM)  # as Ctrl-C (SIGINT), which asyncio.run handles
        rest, _ = proc.communicate(timeout=10)
        assert (proc.returncode, rest) == (0, "AMI simulator stopped\n")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_ami_sim_bad_arguments_are_one_line() -> None:
    runner = CliRunner()
    both = ["ami-sim", "--capture", str(FIXTURES / "answered.ami"), "--scenario", "answered"]
    result = runner.invoke(main, both)
    assert (result.exit_code, result.stderr) == (
        2,
        "error: give --capture or --scenario, not both\n",
    )
    not_ami = runner.invoke(main, ["ami-sim", "--capture", str(FIXTURES / "answered.master.csv")])
    assert (not_ami.exit_code, not_ami.stderr) == (
        2,
        "error: answered.master.csv: a capture is a .ami file\n",
    )


def test_ami_sim_on_a_busy_port_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["ami-sim", "--port", str(port), "--speed", "0"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert result.stderr.count("\n") == 1


# --- asterisk/: the examples the PBX admin copies --------------------------------------------
ASTERISK = Path(__file__).resolve().parents[2] / "asterisk"


def test_manager_conf_grants_the_classes_of_the_folded_events() -> None:
    text = (ASTERISK / "manager.conf").read_text()
    (read,) = re.findall(r"^read = (.+)$", text, re.M)
    (write,) = re.findall(r"^write = (.+)$", text, re.M)
    assert set(read.split(",")) == set(EVENT_CLASS.values())
    assert write == "reporting"  # CoreSettings, CoreShowChannels; Ping needs no class
    filtered = set(re.findall(r"^;eventfilter\(action\(include\),name\((\w+)\)\) =$", text, re.M))
    assert filtered == set(FOLDS)


def test_the_readme_settings_examples_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ASTERISK / "README.md").read_text()
    (toml,) = re.findall(r"```toml\n(.*?)```", readme, re.S)
    settings = load_settings(write_text(tmp_path / "callpool.toml", toml))
    (pbx,) = settings.pbx
    assert settings.ami_enabled and pbx.cdr_csv_path is not None
    dialplan = PbxDialplan(agent_channel_patterns=pbx.agent_channel_patterns)
    assert dialplan.agent_extension("PJSIP/201-0000002a") == "201"
    assert dialplan.agent_extension("PJSIP/trunk-0000002b") is None
    (env,) = re.findall(r"^CALLPOOL_PBX='(.*)'$", readme, re.M)
    monkeypatch.setenv("CALLPOOL_PBX", env)
    monkeypatch.delenv("CALLPOOL_CONFIG", raising=False)
    assert load_settings().pbx[0].timezone == "Europe/Moscow"


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
