"""What the report API accepts and answers, declared once as pydantic models.

The handlers parse their query strings and bodies with these models, and the OpenAPI
document is generated from them (``callpool.web.openapi``). Query models turn into the
metrics engine's one frozen ``ReportQuery``; answer models are built from the tables'
column declarations (``rows``), so a column's JSON type follows its unit.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from callpool.catalog.spec import NAME_PATTERN, Spec
from callpool.metrics.registry import AGENT_METRICS, METRICS
from callpool.metrics.report_query import NAMED_PERIODS, ReportQuery, parse_report_query
from callpool.metrics.spend import SpendRowBody
from callpool.reports import call_feed, data
from callpool.reports.call_list import FIGURE_CALLS, KINDS, STATUSES
from callpool.reports.rows import (
    KEY_COLUMNS,
    Column,
    ColumnKind,
    metric_columns,
)

Format = Literal["json", "csv", "xlsx", "pdf"]
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}


class PeriodFields(Spec):
    model_config = ConfigDict(populate_by_name=True)

    period: str | None = Field(
        default=None,
        max_length=30,
        description=f"A named period ({', '.join(NAMED_PERIODS)}) or FROM..TO in the "
        "campaign's time zone; or give from and to.",
        examples=["last_7_days", "2026-11-01..2026-11-30"],
    )
    from_: str | None = Field(default=None, alias="from", pattern=DATE_PATTERN)
    to: str | None = Field(default=None, pattern=DATE_PATTERN)
    format: Format = Field(default="json", description="json, or a file: csv, xlsx or pdf.")
    bom: bool = Field(default=False, description="CSV: start with a UTF-8 BOM (for Excel).")
    delimiter: Literal["comma", "semicolon", "tab", "pipe"] = Field(
        default="comma", description="CSV: the field separator."
    )

    @property
    def csv_delimiter(self) -> str:
        return DELIMITERS[self.delimiter]

    def report_query(
        self, site: str, campaign: str, by: str = "channel", compare_to: str | None = None
    ) -> ReportQuery:
        period = self.period
        if period is None and self.from_ is None:
            period = "last_30_days"  # the dashboard's default
        return parse_report_query(
            site, campaign, period=period, start=self.from_, end=self.to, by=by,
            compare_to=compare_to,
        )  # fmt: skip


class ReportParams(PeriodFields):
    site: str = Field(pattern=NAME_PATTERN, description="The site's name.")
    campaign: str = Field(pattern=NAME_PATTERN, description="The campaign's name.")


class TwoPeriodsParams(ReportParams):
    compare_to: str | None = Field(
        default=None,
        max_length=30,
        description="The base period (named or FROM..TO); default: the same number of "
        "days just before.",
    )


class CampaignsParams(PeriodFields):
    site: str = Field(pattern=NAME_PATTERN)
    campaign: list[str] = Field(
        min_length=2, max_length=5, description="Two to five campaigns: repeat the parameter."
    )


class CallsParams(ReportParams):
    row: str | None = Field(
        default=None,
        description=f"{', '.join(KINDS)}; with channel, that channel's calls.",
        pattern=f"^({'|'.join(KINDS)})$",
    )
    channel: str | None = Field(default=None, pattern=NAME_PATTERN, description="A channel name.")
    status: Literal[STATUSES] | None = None  # type: ignore[valid-type]
    figure: str | None = Field(
        default=None,
        description="The calls a figure of the report counts: " + ", ".join(sorted(FIGURE_CALLS)),
        max_length=40,
    )
    target: bool | None = None
    caller: str | None = Field(default=None, max_length=32, description="A caller's number.")
    outcome: str | None = Field(
        default=None, max_length=32, description="An outcome; empty: calls without one."
    )
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=100, ge=1, le=call_feed.MAX_LIMIT)


# --------------------------------------------------------------------------- bodies


class OutcomeBody(Spec):
    outcome: str | None = Field(
        max_length=32, description="One of the campaign's outcomes; null clears it."
    )
    value: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)


class OutcomeByCallerBody(OutcomeBody):
    caller: str = Field(min_length=3, max_length=32, description="The caller's number.")
    at: datetime = Field(description="When the call started, with a UTC offset.")
    site: str | None = Field(default=None, pattern=NAME_PATTERN)


class OutcomeAnswer(BaseModel):
    call_id: int
    campaign: str
    outcome: str | None
    value: float | None
    changed: bool


class SpendBody(Spec):
    rows: list[SpendRowBody] = Field(min_length=1, max_length=100_000)


class SpendAnswer(BaseModel):
    rows: int
    days: int
    replaced: int


# --------------------------------------------------------------------------- answers

_JSON_TYPES: dict[ColumnKind, Any] = {
    "count": int,
    "pct": float,
    "ratio": float,
    "seconds": float,
    "money": float,
    "number": float,
    "text": str,
    "flag": bool,
    "date": date,
    "datetime": datetime,
}


def row_model(name: str, columns: tuple[Column, ...], **extra: Any) -> type[BaseModel]:
    """A row of a table as JSON: each column optional (null where there is no figure)."""
    fields: dict[str, Any] = {c.name: (_JSON_TYPES[c.kind] | None, None) for c in columns}
    fields.update(extra)
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


def answer_model(name: str, row: type[BaseModel], **extra: Any) -> type[BaseModel]:
    """The envelope every report answers in JSON."""
    fields: dict[str, Any] = {
        "report": (str, ...),
        "site": (str, ...),
        "campaign": (str, ...),
        "from_": (date, Field(alias="from")),
        "to": (date, ...),
        "timezone": (str, ...),
        "fresh_at": (datetime | None, ...),
        "generated_at": (datetime, ...),
        "rows": (list[row], ...),  # type: ignore[valid-type]
        "total": (row | None, None),
        **extra,
    }
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


def _grouped(name: str, grouping: str, metrics: Any) -> type[BaseModel]:
    columns = KEY_COLUMNS[grouping] + metric_columns(metrics)  # type: ignore[index]
    return answer_model(f"{name}Report", row_model(f"{name}Row", columns))


ChannelsAnswer = _grouped("Channels", "channel", METRICS)
DailyAnswer = _grouped("Daily", "day", METRICS)
HourlyAnswer = _grouped("Hourly", "hour", METRICS)
WeekdaysAnswer = _grouped("Weekdays", "weekday", METRICS)
AgentsAnswer = _grouped("Agents", "agent", AGENT_METRICS)
_STATUS_ROW = row_model(
    "StatusRow",
    (Column("status", "", "text"), Column("calls", "", "count"), Column("share_pct", "", "pct")),
)
_REASON_ROW = row_model(
    "ReasonRow",
    (Column("reason", "", "text"), Column("missed", "", "count"), Column("share_pct", "", "pct")),
)
_REASONS = create_model(
    "ReasonsTable",
    __config__=ConfigDict(extra="forbid"),
    rows=(list[_REASON_ROW], ...),  # type: ignore[valid-type]
    total=(_REASON_ROW | None, None),  # type: ignore[arg-type]
)
StatusAnswer = answer_model("StatusReport", _STATUS_ROW, failure_reasons=(_REASONS, ...))
CallersAnswer = answer_model("CallersReport", row_model("CallersRow", data.CALLER_COLUMNS))
CampaignsAnswer = answer_model(
    "CampaignsReport",
    row_model("CampaignsRow", (Column("campaign", "", "text"), *metric_columns(METRICS))),
)
PeriodsAnswer = answer_model(
    "PeriodsReport",
    row_model(
        "PeriodsRow",
        (Column("metric", "", "text"), Column("unit", "", "text")),
        current=(float | None, None),
        previous=(float | None, None),
        change_pct=(float | Literal["n/a"] | None, None),
    ),
    compare_from=(date, ...),
    compare_to=(date, ...),
)
MissedAnswer = answer_model("MissedReport", row_model("MissedRow", data.MISSED_COLUMNS))
_CALL_ROW = row_model(
    "CallRow",
    tuple(c for c in call_feed.CALL_COLUMNS if c.name != "click_ids"),
    click_ids=(dict[str, Any] | None, None),
)
CallsAnswer = answer_model("CallsPage", _CALL_ROW, next_cursor=(str | None, ...))


class Spec31(BaseModel):
    """The OpenAPI document itself (an object)."""

    model_config = ConfigDict(extra="allow")
    openapi: str
