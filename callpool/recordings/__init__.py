"""Call recordings: linking each call's files, storing, retention, signed playback.

Pure: :mod:`naming` (which files may be a call's recording, which are browser-playable),
:mod:`signing` (short-lived HMAC-signed URLs), :mod:`retention` (which files are due).
Adapters: :mod:`store` (SQL), :mod:`linker` (the file system: find, checksum, copy;
the linking and retention jobs), :mod:`audio` (conversion with sox, cached),
:mod:`web` (the dashboard's player page and the signed audio route), :mod:`api` (what a
call's JSON says about its recordings).
"""
