"""A report's renderings: JSON (the shape the report API shares), CSV and a text table.

One ``ReportResult`` in, text or plain data out; the rows are shaped once here and every
rendering walks them.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from callpool.metrics.report_query import ReportResult


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def report_json(result: ReportResult) -> dict[str, Any]:
    """``{"campaign", "from", "to", "timezone", "fresh_at", "rows", "total"}`` (and
    ``"compare"`` with the same keys when a comparison was asked for)."""
    out: dict[str, Any] = {
        "campaign": result.campaign,
        "from": result.start.isoformat(),
        "to": result.end.isoformat(),
        "timezone": result.timezone,
        "fresh_at": None if result.fresh_at is None else result.fresh_at.isoformat(),
        "rows": [
            {**row.key, **{k: _plain(v) for k, v in row.figures.items()}}
            for row in result.report.rows
        ],
        "total": {k: _plain(v) for k, v in result.report.total.items()},
    }
    if result.compare is not None:
        out["compare"] = report_json(result.compare)
    return out


def _flat_rows(result: ReportResult) -> list[dict[str, Any]]:
    data = report_json(result)
    rows = [dict(row) for row in data["rows"]]
    key_names = [k for k in rows[0] if k not in data["total"]] if rows else []
    total = dict.fromkeys(key_names) | data["total"]
    if "kind" in total:
        total["kind"] = "total"
    else:
        total[key_names[0] if key_names else "row"] = "total"
    rows.append(total)
    for row in rows:
        row["from"], row["to"] = data["from"], data["to"]
    return rows


def report_csv(result: ReportResult) -> str:
    """One line per row and one for the total (and the comparison's after them)."""
    rows = _flat_rows(result)
    if result.compare is not None:
        rows += _flat_rows(result.compare)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def report_table(result: ReportResult) -> str:
    """Metrics down, rows across: readable in a terminal for a handful of rows."""
    rows = _flat_rows(result)
    labels = [_label(row) for row in rows]
    names = list(result.report.total)
    width = max(len(n) for n in names)
    cells = [[_cell(row.get(name)) for row in rows] for name in names]
    col = [max(len(labels[i]), *(len(c[i]) for c in cells)) for i in range(len(rows))]
    fresh = "never" if result.fresh_at is None else result.fresh_at.isoformat(timespec="seconds")
    lines = [
        f"{result.site} / {result.campaign}: {result.start} .. {result.end} "
        f"({result.timezone}), fresh at {fresh}",
        " " * width + "  " + "  ".join(lab.rjust(col[i]) for i, lab in enumerate(labels)),
    ]
    for name, values in zip(names, cells, strict=True):
        lines.append(
            name.ljust(width) + "  " + "  ".join(v.rjust(col[i]) for i, v in enumerate(values))
        )
    if result.compare is not None:
        lines += ["", "compared with:", report_table(result.compare)]
    return "\n".join(lines)


def _label(row: dict[str, Any]) -> str:
    if "kind" in row:
        return str(row["channel"] or row["kind"])
    for key in ("day", "hour", "weekday", "agent", "callers"):
        if key in row:
            return str(row[key])
    for key in ("region", "line_type"):
        if key in row:
            return str(row[key] or "unknown")
    return "?"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
