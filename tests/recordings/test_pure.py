"""The pure parts: names and paths, signing, retention rules, who may hear what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callpool.accounts.access import Access
from callpool.errors import ConfigError, Forbidden
from callpool.recordings.naming import candidate_paths, is_browser_playable, pattern_glob
from callpool.recordings.policy import recording_right
from callpool.recordings.retention import RecordingFacts, RetentionRule, why_due
from callpool.recordings.signing import Grant, sign_grant, verify_grant

pytestmark = pytest.mark.pure
ROOT = Path("/mnt/monitor")
DAY = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_names_map_into_the_recordings_directory() -> None:
    bare = candidate_paths("in-1-2-3.wav", ROOT, "/var/spool/asterisk/monitor", DAY)
    assert bare == [ROOT / "in-1-2-3.wav", ROOT / "2026/12/01/in-1-2-3.wav"]
    relative = candidate_paths("2026/12/01/x.wav", ROOT, "/var/spool/asterisk/monitor", DAY)
    assert relative == [ROOT / "2026/12/01/x.wav"]
    absolute = candidate_paths(
        "/var/spool/asterisk/monitor/a/x.wav", ROOT, "/var/spool/asterisk/monitor", DAY
    )
    assert absolute == [ROOT / "a/x.wav"]


def test_names_that_would_leave_the_directory_are_refused() -> None:
    for name in ("../../etc/passwd", "/etc/passwd", "a/../../b.wav", ""):
        assert candidate_paths(name, ROOT, "/var/spool/asterisk/monitor", DAY) == []


def test_pattern_escapes_ids_and_refuses_escapes() -> None:
    assert pattern_glob("{started:%Y/%m/%d}/*-{linkedid}.*", "17*3", "u", DAY) == (
        "2026/12/01/*-17[*]3.*"
    )
    with pytest.raises(ConfigError):
        pattern_glob("{callerid}.wav", "1", "2", DAY)
    with pytest.raises(ConfigError):
        pattern_glob("../{linkedid}.wav", "1", "2", DAY)


def test_only_pcm_wav_plays_as_it_is() -> None:
    def wav(tag: int) -> bytes:
        return b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0" + tag.to_bytes(2, "little") + b"\0" * 40

    assert is_browser_playable(".wav", wav(1))
    assert not is_browser_playable(".WAV", wav(0x31))  # wav49
    assert not is_browser_playable(".wav", wav(0x31))
    assert not is_browser_playable(".gsm", b"")
    assert is_browser_playable(".mp3", b"")


def test_a_signed_link_is_checked_for_tampering_and_expiry() -> None:
    secret = b"k" * 32
    grant = Grant(7, 3, "play", int((DAY + timedelta(minutes=10)).timestamp()), True)
    query = dict(part.split("=") for part in sign_grant(secret, grant).split("&"))
    assert verify_grant(secret, 7, query, DAY) == grant
    with pytest.raises(Forbidden):
        verify_grant(secret, 8, query, DAY)
    with pytest.raises(Forbidden):
        verify_grant(b"other" * 8, 7, query, DAY)
    with pytest.raises(Forbidden):
        verify_grant(secret, 7, {**query, "a": "download"}, DAY)
    with pytest.raises(Forbidden):
        verify_grant(secret, 7, {**query, "b": "b"}, DAY)
    with pytest.raises(Forbidden, match="expired"):
        verify_grant(secret, 7, query, DAY + timedelta(minutes=10))
    with pytest.raises(Forbidden):
        verify_grant(secret, 7, {}, DAY)


def test_retention_rules() -> None:
    now = DAY
    target = RecordingFacts(now - timedelta(days=3), "inbound", "answered", 60, 10)
    short = RecordingFacts(now - timedelta(days=3), "inbound", "answered", 5, 10)
    assert why_due(RetentionRule(None, False), short, now) is None
    assert why_due(RetentionRule(3, False), target, now) == "older than 3 days"
    assert why_due(RetentionRule(4, False), target, now) is None
    assert why_due(RetentionRule(None, True), target, now) is None
    assert why_due(RetentionRule(None, True), short, now) == "not a target call"


def test_who_may_hear() -> None:
    viewer = Access(1, "anna", "viewer", False, frozenset({1}))
    admin = Access(2, "bob", "admin", False, frozenset({2}))
    assert recording_right(viewer, 1, enabled=True, for_viewers=True) == "play"
    assert recording_right(viewer, 1, enabled=True, for_viewers=False) == "denied"
    assert recording_right(viewer, 2, enabled=True, for_viewers=True) == "unseen"
    assert recording_right(viewer, None, enabled=True, for_viewers=True) == "unseen"
    assert recording_right(admin, 2, enabled=True, for_viewers=False) == "download"
    assert recording_right(admin, 2, enabled=False, for_viewers=True) == "off"
