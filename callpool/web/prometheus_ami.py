"""The PBX listeners' figures for ``/metrics``, read from their ``health()`` at each scrape.

Nothing in ``pbx/`` is instrumented: a listener already keeps its counters for
``/healthz``, and a scrape reads them. Counters restart at zero with the process, which
Prometheus' ``rate()`` handles as a counter reset. A key a listener's ``health()`` does
not have yields no series rather than a wrong zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callpool.web.keys import ListenerHealth

AMI_STATES = ("connecting", "logged_in", "login_failed", "backoff", "closed")
ROLES = ("listening", "standby", "stopped")

# health() key -> (series name, help); counters get ``_total`` from the client library.
COUNTERS = {
    "reconnects": ("callpool_ami_reconnects", "AMI reconnects since the process started"),
    "events": ("callpool_ami_events", "AMI events received"),
    "calls_written": ("callpool_ami_calls_written", "Calls written to the database"),
    "bad_events": ("callpool_ami_bad_events", "AMI events the call assembly could not use"),
    "write_failures": (
        "callpool_ami_write_retries",
        "Database writes of events and calls that failed and are retried",
    ),
}
GAUGES = {
    "journal_pending": (
        "callpool_ami_journal_backlog",
        "Journalled events not yet committed (written, or held by an open call)",
    ),
    "open_calls": ("callpool_ami_open_calls", "Calls in progress held by the assembler"),
}


def _figure(listener: ListenerHealth, state: dict[str, Any], key: str) -> float | None:
    value = state.get(key)
    if value is None and key == "write_failures":
        # Not in health() (yet): the listener's own counter.
        value = getattr(getattr(listener, "stats", None), key, None)
    return float(value) if isinstance(value, int | float) else None


class ListenersCollector(Collector):
    def __init__(self, listeners: Callable[[], Iterable[ListenerHealth]]) -> None:
        self._listeners = listeners

    def collect(self) -> Iterable[Metric]:
        link = GaugeMetricFamily(
            "callpool_ami_link_state",
            "1 for the AMI link's current state of each PBX, 0 for the others",
            labels=["pbx", "state"],
        )
        role = GaugeMetricFamily(
            "callpool_ami_role",
            "1 for this process's role for each PBX (listening holds the PBX's lock)",
            labels=["pbx", "role"],
        )
        database = GaugeMetricFamily(
            "callpool_ami_database_up",
            "1 while the listener's writes reach the database, 0 while calls wait in the journal",
            labels=["pbx"],
        )
        figures: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
            **{k: CounterMetricFamily(*v, labels=["pbx"]) for k, v in COUNTERS.items()},
            **{k: GaugeMetricFamily(*v, labels=["pbx"]) for k, v in GAUGES.items()},
        }
        for listener in self._listeners():
            state = listener.health()
            name = listener.name
            for value in AMI_STATES:
                link.add_metric([name, value], 1 if state.get("ami") == value else 0)
            for value in ROLES:
                role.add_metric([name, value], 1 if state.get("role") == value else 0)
            if "database" in state:
                database.add_metric([name], 1 if state["database"] == "ok" else 0)
            for key, family in figures.items():
                figure = _figure(listener, state, key)
                if figure is not None:
                    family.add_metric([name], figure)
        return [link, role, database, *figures.values()]
