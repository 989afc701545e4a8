"""Which recordings a site's retention rule removes (the files go, the call rows stay).

A site keeps its recordings forever unless it sets ``recording_retention_days`` (a file
goes once its call ended that many days ago) or ``recording_keep_target_only`` (the
files of calls that are not target calls go as soon as the job sees them). A target
call here is what the campaign calls one: inbound, answered, talk at least the
campaign's ``target_seconds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["RecordingFacts", "RetentionRule", "is_target", "why_due"]


@dataclass(frozen=True, slots=True)
class RetentionRule:
    days: int | None
    keep_target_only: bool


@dataclass(frozen=True, slots=True)
class RecordingFacts:
    ended_at: datetime
    direction: str
    disposition: str
    talk_seconds: int
    target_seconds: int


def is_target(facts: RecordingFacts) -> bool:
    return (
        facts.direction == "inbound"
        and facts.disposition == "answered"
        and facts.talk_seconds >= facts.target_seconds
    )


def why_due(rule: RetentionRule, facts: RecordingFacts, now: datetime) -> str | None:
    """Why the rule removes this recording now (for the log), or None to keep it."""
    if rule.days is not None and facts.ended_at <= now - timedelta(days=rule.days):
        return f"older than {rule.days} days"
    if rule.keep_target_only and not is_target(facts):
        return "not a target call"
    return None
