"""Browser-playable audio on demand: a recording as it is, or converted by sox, cached.

MixMonitor's PCM ``.wav`` plays in every browser as it is; ``.gsm``, ``wav49`` (GSM in
WAV), ``.ulaw``/``.alaw``/``.sln`` do not. Those are converted once with Debian's
``sox`` into Ogg Vorbis under the storage's ``cache/`` (named by the file's SHA-256, so
a changed file is converted again) and served from there. Without sox a recording that
needs it is a clear 503, never a broken player.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from callpool.errors import RecordingUnavailable
from callpool.recordings.naming import is_browser_playable

__all__ = ["playable_file"]

# Raw formats sox cannot guess from the name alone: Asterisk's signed linear and G.711.
_RAW_INPUT = {
    ".sln": ["-t", "raw", "-r", "8000", "-e", "signed-integer", "-b", "16", "-c", "1"],
    ".sln16": ["-t", "raw", "-r", "16000", "-e", "signed-integer", "-b", "16", "-c", "1"],
    ".ulaw": ["-t", "ul", "-r", "8000", "-c", "1"],
    ".alaw": ["-t", "al", "-r", "8000", "-c", "1"],
}
_CONVERT_TIMEOUT = 120.0
_locks: dict[str, asyncio.Lock] = {}


def sox_path() -> str | None:
    return shutil.which("sox")


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(64)


async def playable_file(source: Path, sha256: str, cache_dir: Path) -> Path:
    """A file the browser can play: ``source`` itself, or its cached conversion."""
    head = await asyncio.to_thread(_head, source)
    if is_browser_playable(source.suffix, head):
        return source
    target = cache_dir / f"{sha256}.ogg"
    lock = _locks.setdefault(sha256, asyncio.Lock())
    async with lock:
        if not target.exists():
            await _convert(source, target)
    return target


async def _convert(source: Path, target: Path) -> None:
    sox = sox_path()
    if sox is None:
        raise RecordingUnavailable(
            "this recording needs converting and sox is not installed (apt-get install sox)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.stem}.part.ogg")
    args = [sox, *_RAW_INPUT.get(source.suffix.lower(), []), str(source), "-C", "3", str(partial)]
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), _CONVERT_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RecordingUnavailable("converting this recording took too long") from None
    if process.returncode != 0:
        partial.unlink(missing_ok=True)
        reason = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["unknown"]
        raise RecordingUnavailable(f"sox could not convert this recording: {reason[0][:200]}")
    os.replace(partial, target)
