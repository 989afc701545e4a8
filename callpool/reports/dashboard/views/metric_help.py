"""The metric definitions as a page, in the user's language: what each figure means.

The English text is the metrics registry's own (``callpool.metrics.registry``, declared
once); the Russian is in the dashboard's catalogue under the same text, so a definition
changed in the registry shows in English until it is translated again (a test lists any
left untranslated). The channel report's column headers link here, one anchor a metric.
"""

from __future__ import annotations

from aiohttp import web

from callpool.metrics.registry import AGENT_METRICS, METRICS, Metric
from callpool.reports.dashboard.i18n import N_
from callpool.reports.dashboard.i18n import gettext as _
from callpool.reports.dashboard.views.common import render
from callpool.reports.dashboard.views.reports import COLUMNS

routes = web.RouteTableDef()

UNITS = {
    "count": N_("count"),
    "pct": N_("percent"),
    "ratio": N_("fraction"),
    "seconds": N_("seconds"),
    "money": N_("money"),
}


def _rows(metrics: tuple[Metric, ...], prefix: str = "") -> list[dict[str, str]]:
    labels = dict(COLUMNS)
    return [
        {
            "anchor": prefix + m.name,
            "key": m.name,
            "label": _(labels[m.name]) if m.name in labels and not prefix else "",
            "unit": _(UNITS[m.unit]),
            "definition": _(m.definition),
        }
        for m in metrics
    ]


@routes.get("/help/metrics", name="help_metrics")
async def metric_help(request: web.Request) -> web.Response:
    context = {
        "page": "help",
        "metrics": _rows(METRICS),
        "agent_metrics": _rows(AGENT_METRICS, "agent-"),
    }
    return render(request, "help_metrics.html", context)
