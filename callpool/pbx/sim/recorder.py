"""The simulator's MixMonitor: a real audio file for every recorded call it plays.

Watches the frames the simulator sends; for a ``Cdr`` carrying ``RecordingFile`` it
writes that file under ``directory`` (the PBX's monitor directory), ``delay`` seconds
later (MixMonitor closes its file after the hang-up, sometimes well after). The audio
is speech synthesised by Debian's ``espeak-ng``, converted by ``sox`` into what the
name's extension says MixMonitor writes: ``.wav`` 8 kHz 16-bit PCM, ``.gsm`` raw GSM,
``.WAV`` wav49 (GSM in WAV). The file appears at once, complete (written aside, then
renamed), as it does when MixMonitor finishes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

log = logging.getLogger("callpool.ami.sim")

TEXT = (
    "Good afternoon, you are through to the sales line. "
    "I would like to order two boxes of the autumn collection, delivered on Friday. "
    "Of course. May I have your name and address, please?"
)
_FORMATS = {
    ".wav": ["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"],
    ".gsm": ["-r", "8000", "-c", "1", "-t", "gsm"],
    ".WAV": ["-r", "8000", "-c", "1", "-e", "gsm-full-rate", "-t", "wav"],
}


def missing_tools() -> list[str]:
    return [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]


class SimRecorder:
    """Writes the recordings of the calls the simulator plays (``start``/``close``)."""

    def __init__(self, directory: Path, *, delay: float = 0.0, text: str = TEXT) -> None:
        self.directory = directory
        self.delay = delay
        self.text = text
        self.written: list[Path] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def observe(self, name: bytes, frame: bytes) -> None:
        if name != b"Cdr" or b"\r\nRecordingFile: " not in frame:
            return
        for line in frame.decode("utf-8", "replace").split("\r\n"):
            if line.startswith("RecordingFile: "):
                self._schedule(line.removeprefix("RecordingFile: ").strip())

    def _schedule(self, name: str) -> None:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts:
            log.warning("sim recorder: refusing %r", name)
            return
        task = asyncio.get_running_loop().create_task(
            self._write(self.directory.joinpath(*path.parts))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, target: Path) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        try:
            await write_speech(target, self.text)
            self.written.append(target)
        except Exception:
            log.exception("sim recorder: could not write %s", target)

    async def wait(self) -> None:
        """Until every recording scheduled so far is written."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Like a PBX stopping: the files being finished are still written."""
        await self.wait()


async def _run(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {err.decode('utf-8', 'replace').strip()[:300]}")


async def write_speech(target: Path, text: str = TEXT) -> None:
    """Synthesise ``text`` into ``target`` in the format its extension names."""
    missing = missing_tools()
    if missing:
        needed = " and ".join(missing)
        raise RuntimeError(f"the simulator's recorder needs {needed} (apt-get install {needed})")
    options = _FORMATS.get(target.suffix)
    if options is None:
        raise RuntimeError(f"the simulator cannot record {target.suffix!r} (wav, gsm, WAV)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="callpool-sim-") as tmp:
        speech = Path(tmp) / "speech.wav"
        await _run("espeak-ng", "-s", "150", "-w", str(speech), text)
        partial = Path(tmp) / f"out{target.suffix}"
        await _run("sox", str(speech), *options, str(partial))
        shutil.copyfile(partial, target.with_name(target.name + ".part"))
    os.replace(target.with_name(target.name + ".part"), target)
