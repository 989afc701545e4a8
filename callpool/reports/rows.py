"""A report shaped once into tables; JSON, CSV, xlsx and PDF are renderers of these.

Pure: a ``ReportResult`` (or other plain data) in, ``Table`` values out. Column titles
and units come from the metrics registry, so a metric's unit is declared once and every
rendering formats it the same way (a percentage in the JSON is a percentage cell in the
workbook and a ``%`` in the PDF). Values stay typed (``Decimal`` money, ``date`` days)
until a renderer writes them.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from callpool.metrics.definitions import CAUSE_NAMES
from callpool.metrics.model import Grouping
from callpool.metrics.registry import AGENT_METRICS, BY_NAME, METRICS, Metric
from callpool.metrics.report_query import ReportResult

ColumnKind = Literal[
    "count", "pct", "ratio", "seconds", "money", "number", "text", "flag", "date", "datetime"
]
Row = Mapping[str, Any]
RowSource = Sequence[Row] | AsyncIterable[Row]
NA = "n/a"  # a change against a base of zero (or no figure)

WEEKDAYS = ("", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
STATUS_ROWS = ("answered", "no_answer", "busy", "failed", "abandoned", "short_abandons")


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # the JSON key
    title: str  # the header in files
    kind: ColumnKind


@dataclass(frozen=True, slots=True)
class Table:
    """One table of a report: a sheet in the workbook, a section of the PDF."""

    name: str  # sheet name (31 characters at most)
    title: str
    columns: tuple[Column, ...]
    rows: RowSource
    # The total's figures (no label: renderers put "Total" in the first column).
    total: Row | None = None
    # Charted per row (a native chart in xlsx, bars in the PDF): (label column, value column).
    chart: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ReportMeta:
    report: str
    title: str
    site: str
    campaign: str
    timezone: str
    start: date
    end: date
    fresh_at: datetime | None
    generated_at: datetime


@dataclass(frozen=True, slots=True)
class ReportDoc:
    """What every rendering of a report shows: the header and its tables. The first
    table is the report's own (JSON ``rows`` and ``total``; the CSV)."""

    meta: ReportMeta
    tables: tuple[Table, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)  # JSON-only fields

    @property
    def main(self) -> Table:
        return self.tables[0]


def metric_title(name: str) -> str:
    """``answered_pct`` -> ``Answered %``, ``cost_per_call`` -> ``Cost per call``."""
    words = name.split("_")
    if words[-1] == "pct":
        words[-1] = "%"
    return " ".join(words).capitalize()


def metric_column(metric: Metric) -> Column:
    return Column(metric.name, metric_title(metric.name), metric.unit)


def metric_columns(metrics: Iterable[Metric]) -> tuple[Column, ...]:
    return tuple(metric_column(m) for m in metrics)


KEY_COLUMNS: Mapping[Grouping, tuple[Column, ...]] = {
    "channel": (Column("channel", "Channel", "text"), Column("kind", "Row", "text")),
    "day": (Column("day", "Day", "date"),),
    "hour": (Column("hour", "Hour", "count"),),
    "weekday": (Column("weekday", "Weekday", "count"), Column("weekday_name", "Day", "text")),
    "agent": (Column("agent", "Agent", "text"),),
}
_TABLES: Mapping[Grouping, tuple[str, str]] = {
    "channel": ("Channels", "Channel report"),
    "day": ("Daily", "Daily trend"),
    "hour": ("Hourly", "Calls by hour of day"),
    "weekday": ("Weekdays", "Calls by day of week"),
    "agent": ("Agents", "Per agent"),
}


def _row_key(grouping: Grouping, key: Mapping[str, Any]) -> dict[str, Any]:
    if grouping == "day":
        return {"day": date.fromisoformat(key["day"])}
    if grouping == "weekday":
        return {"weekday": key["weekday"], "weekday_name": WEEKDAYS[key["weekday"]]}
    return dict(key)


def grouped_table(result: ReportResult) -> Table:
    """The report's rows (channels, days, hours, weekdays or agents) and its total."""
    grouping = result.grouping
    keys = KEY_COLUMNS[grouping]
    metrics = AGENT_METRICS if grouping == "agent" else METRICS
    rows = [{**_row_key(grouping, row.key), **row.figures} for row in result.report.rows]
    total = dict(result.report.total)
    label = "weekday_name" if grouping == "weekday" else keys[0].name
    chart_value = "answered" if grouping == "agent" else "calls"
    name, title = _TABLES[grouping]
    return Table(name, title, keys + metric_columns(metrics), rows, total, (label, chart_value))


def status_table(total: Mapping[str, Any]) -> Table:
    """Calls by status, each with its share of all calls."""
    calls = total["calls"]
    rows = [
        {"status": status, "calls": total[status], "share_pct": _share(total[status], calls)}
        for status in STATUS_ROWS
    ]
    return Table(
        "Status",
        "Status breakdown",
        (
            Column("status", "Status", "text"),
            Column("calls", "Calls", "count"),
            Column("share_pct", "Share %", "pct"),
        ),
        rows,
        {"calls": calls, "share_pct": 100.0 if calls else None},
        ("status", "calls"),
    )


def reasons_table(total: Mapping[str, Any]) -> Table:
    """Missed calls by the Q.850 cause class of the customer's leg."""
    missed = total["missed"]
    rows = []
    for name in CAUSE_NAMES:
        count = total[f"hangup_{name}"]
        rows.append({"reason": name, "missed": count, "share_pct": _share(count, missed)})
    return Table(
        "Failure reasons",
        "Failure reasons of missed calls",
        (
            Column("reason", "Reason", "text"),
            Column("missed", "Missed calls", "count"),
            Column("share_pct", "Share %", "pct"),
        ),
        rows,
        {"missed": missed, "share_pct": 100.0 if missed else None},
    )


def _share(part: int, whole: int) -> float | None:
    return None if not whole else round(100 * part / whole, 2)


def campaigns_table(results: Sequence[ReportResult]) -> Table:
    """Campaigns side by side: one row each with its total figures."""
    rows = [{"campaign": r.campaign, **r.report.total} for r in results]
    return Table(
        "Campaigns",
        "Campaigns compared",
        (Column("campaign", "Campaign", "text"), *metric_columns(METRICS)),
        rows,
        None,
        ("campaign", "calls"),
    )


def change_pct(current: Any, base: Any) -> float | str:
    """The change from ``base`` to ``current`` in %; "n/a" where the base is 0 or a
    figure is missing."""
    if current is None or base is None or not base:
        return NA
    now, then = Decimal(str(current)), Decimal(str(base))
    return round(float((now - then) / abs(then) * 100), 2)


def periods_table(result: ReportResult) -> Table:
    """One campaign in two periods: each metric now, then, and its change in %."""
    assert result.compare is not None
    now, then = result.report.total, result.compare.report.total
    rows = [
        {
            "metric": name,
            "unit": BY_NAME[name].unit,
            "current": now[name],
            "previous": then[name],
            "change_pct": change_pct(now[name], then[name]),
        }
        for name in now
    ]
    return Table(
        "Periods",
        f"{result.start}..{result.end} against {result.compare.start}..{result.compare.end}",
        (
            Column("metric", "Metric", "text"),
            Column("unit", "Unit", "text"),
            Column("current", "This period", "number"),
            Column("previous", "Base period", "number"),
            Column("change_pct", "Change %", "pct"),
        ),
        rows,
    )


def total_row(table: Table) -> Row | None:
    """The total as a file shows it: "Total" in the first column, then the figures."""
    if table.total is None:
        return None
    return {table.columns[0].name: "Total", **table.total}


async def each_row(rows: RowSource) -> AsyncIterator[Row]:
    """The rows of a table, whether a list or streamed from the database."""
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row
