"""Which files are a call's recording: names from its CDRs, paths to look at, patterns.

Real installations name a call's recording in one of these ways, all handled here:

- the dialplan sets ``CDR(recordingfile)`` (FreePBX does it itself) and a
  ``cdr_manager.conf`` mapping posts it on the ``Cdr`` event as ``RecordingFile``; the
  value is a bare file name (FreePBX: under ``YYYY/MM/DD/`` of the monitor directory),
  a path relative to the monitor directory, or an absolute path on the PBX
  (``MIXMONITOR_FILENAME``);
- a file-name pattern with the call's linkedid or uniqueid under the monitor directory
  (``recording_pattern``), for calls no CDR names a recording of.

Names come from the PBX, so none may leave the recordings directory: ``..`` and
absolute paths outside the PBX's monitor directory are refused.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path, PurePosixPath

from callpool.errors import ConfigError
from callpool.pbx.assembly.cdr import CdrRecord

__all__ = [
    "CONTENT_TYPES",
    "PLAYABLE_SUFFIXES",
    "candidate_paths",
    "is_browser_playable",
    "pattern_glob",
    "recording_names",
]

# What Chromium, Firefox and Safari play without help (WAV only when it is PCM).
PLAYABLE_SUFFIXES = frozenset({".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".webm"})
CONTENT_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".webm": "audio/webm",
    ".gsm": "audio/x-gsm",
}
# WAVE format tags: 1 PCM, 3 IEEE float. MixMonitor's wav49 (".WAV") is 0x31, GSM.
_PCM_TAGS = frozenset({1, 3})


def recording_names(cdrs: Iterable[CdrRecord]) -> tuple[str, ...]:
    """The recordings a call's CDRs name, each once, in the order they came."""
    seen: dict[str, None] = {}
    for cdr in cdrs:
        name = cdr.recording_file.strip()
        if name:
            seen.setdefault(name, None)
    return tuple(seen)


def _safe_relative(path: PurePosixPath) -> bool:
    return not path.is_absolute() and ".." not in path.parts and str(path) not in ("", ".")


def candidate_paths(
    name: str, recordings_dir: Path, pbx_dir: str, started_local: datetime
) -> list[Path]:
    """Where callpool may find the recording the PBX named ``name`` (most likely first).

    ``recordings_dir`` is the PBX's monitor directory as callpool sees it, ``pbx_dir`` the
    same directory as the PBX names it. A bare name is also looked for under the call's
    day (``YYYY/MM/DD/``, FreePBX's layout). Empty when the name would leave the directory.
    """
    path = PurePosixPath(name)
    if path.is_absolute():
        root = PurePosixPath(pbx_dir)
        if not path.is_relative_to(root):
            return []
        path = path.relative_to(root)
    if not _safe_relative(path):
        return []
    found = [recordings_dir.joinpath(*path.parts)]
    if len(path.parts) == 1:
        found.append(recordings_dir / started_local.strftime("%Y/%m/%d") / path.name)
    return found


def pattern_glob(pattern: str, linkedid: str, uniqueid: str, started_local: datetime) -> str:
    """The glob (relative to the recordings directory) of one call's files.

    ``pattern`` uses ``{linkedid}``, ``{uniqueid}`` and ``{started:<strftime>}``; the ids
    are glob-escaped. ``ConfigError`` for a pattern that names other fields or leaves
    the directory.
    """
    try:
        text = pattern.format(
            linkedid=glob.escape(linkedid), uniqueid=glob.escape(uniqueid), started=started_local
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"invalid setting recording_pattern: {exc!s} (use {{linkedid}}, {{uniqueid}}, "
            "{started:%Y/%m/%d})"
        ) from None
    if not _safe_relative(PurePosixPath(text)):
        raise ConfigError("invalid setting recording_pattern: must stay under recordings_dir")
    return text


def is_browser_playable(suffix: str, head: bytes) -> bool:
    """True for a file a browser's <audio> plays as it is (``head``: its first 64 bytes)."""
    if suffix.lower() in PLAYABLE_SUFFIXES:
        return True
    if suffix.lower() != ".wav" or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return False
    # The "fmt " chunk follows the header in every file MixMonitor and sox write.
    if head[12:16] != b"fmt ":
        return False
    tag = int.from_bytes(head[20:22], "little")
    return tag in _PCM_TAGS
