"""The facts' non-additive figures in one pass over the period, on PostgreSQL.

``report_sql`` counts distinct callers (per row and for the total), hidden callers and
the four histograms (wait, talk, call-back delay, failure causes) with one statement
each: seven reads of the same facts, which at a year of a busy campaign (100,000 facts)
cost several times a bare ``GROUP BY`` over the whole calls table. PostgreSQL reads
them once here: one ``GROUPING SETS`` statement groups the period's facts

- per row and caller, and per caller alone (the total): each caller's flags, whose
  counts in the outer query are the distinct counts; the callers with a hidden number
  form one group per row (and one for the total) whose calls each count as a caller;
- per row and wait (answered), talk (answered), call-back delay and hangup cause
  (missed; -1 stands for no cause): the histograms, summed into the total in Python
  as before.

The figures are the ones the per-statement path gives (the property test holds both
to the pure definitions). SQLite has no ``GROUPING SETS`` and keeps that path.
The statement raises ``work_mem`` for its transaction only: hashing a year's callers
needs some tens of MB, and with the default 4 MB PostgreSQL sorts them on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import case, func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from callpool.db.tables import MetricCallFacts
from callpool.metrics.definitions import cause_class
from callpool.metrics.model import Tally

F = MetricCallFacts
WORK_MEM = "64MB"
_NO_CAUSE = -1
_CALLER_FIELDS = (
    "unique_calls",
    "unique_target_calls",
    "missed_callers",
    "called_back",
    "called_back_by_us",
    "called_back_by_themselves",
    "attempted_callers",
)
_HISTOGRAMS = ("wait_hist", "talk_hist", "delay_hist", "causes")


def _flag(condition: Any) -> Any:
    return case((condition, 1), else_=0)


async def one_pass(
    conn: AsyncConnection,
    keys: Sequence[Any],
    in_period: tuple[Any, ...],
    tally_of: Callable[[Sequence[Any]], Tally],
    total: Tally,
) -> None:
    """Distinct and hidden callers and the histograms of each row (``tally_of`` the
    row's key values) and of the total, from one statement."""
    answered = F.status == "answered"
    called_back = F.called_back_by_us | F.called_back_by_themselves
    facts = (
        select(
            *[k.label(f"k{i}") for i, k in enumerate(keys)],
            F.customer.collate("C").label("customer"),  # bytes: no locale rules to sort by
            case((answered, F.wait_seconds)).label("wait_hist"),
            case((answered, F.talk_seconds)).label("talk_hist"),
            F.attempt_delay.label("delay_hist"),
            case((~answered, func.coalesce(F.hangup_cause, _NO_CAUSE))).label("causes"),
            _flag(F.target).label("t"),
            _flag(~answered).label("m"),
            _flag(called_back).label("b"),
            _flag(F.called_back_by_us).label("u"),
            _flag(F.called_back_by_themselves).label("s"),
            _flag(F.attempted).label("a"),
        )
        .where(*in_period)
        .subquery("f")
    )
    row_keys = [facts.c[f"k{i}"] for i in range(len(keys))]
    customer = facts.c.customer
    hists = [facts.c[name] for name in _HISTOGRAMS]
    sets = [[*row_keys, customer], [customer]] + [[*row_keys, h] for h in hists]
    arguments = [*row_keys, customer, *hists]
    # GROUPING(...) has a bit per argument, set when the argument is not grouped.
    set_ids = [
        sum(
            1 << (len(arguments) - 1 - i)
            for i, a in enumerate(arguments)
            if all(a is not grouped for grouped in s)
        )
        for s in sets
    ]
    inner = (
        select(
            func.grouping(*arguments).label("g"),
            *[k.label(f"k{i}") for i, k in enumerate(row_keys)],
            func.coalesce(*hists).label("v"),
            customer.is_(None).label("hidden"),
            func.count().label("n"),
            *[func.max(facts.c[c]).label(c) for c in "tmbusa"],
            func.sum(facts.c.t).label("tc"),
            func.sum(facts.c.m).label("mc"),
        )
        .group_by(func.grouping_sets(*[tuple_(*s) for s in sets]))
        .subquery("g")
    )
    outer_keys = [inner.c.g, *[inner.c[f"k{i}"] for i in range(len(keys))], inner.c.v]
    query = select(
        *outer_keys,
        inner.c.hidden,
        func.count(),
        func.sum(inner.c.n),
        *[func.sum(inner.c[c]) for c in "tmbusa"],
        func.sum(inner.c.tc),
        func.sum(inner.c.mc),
    ).group_by(*outer_keys, inner.c.hidden)
    await conn.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    by_row, by_total = set_ids[0], set_ids[1]
    histogram_of = dict(zip(set_ids[2:], _HISTOGRAMS, strict=True))
    width = len(keys)
    for row in await conn.execute(query):
        gid, values, value, hidden = row[0], row[1 : 1 + width], row[1 + width], row[2 + width]
        callers, calls, *flags, target_calls, missed_calls = (int(v or 0) for v in row[3 + width :])
        if gid in (by_row, by_total):
            tally = total if gid == by_total else tally_of(values)
            if hidden:  # a hidden caller id is a caller of its own per call
                tally.unique_calls += calls
                tally.unique_target_calls += target_calls
                tally.missed_callers += missed_calls
            else:
                for name, count in zip(_CALLER_FIELDS, (callers, *flags), strict=True):
                    setattr(tally, name, getattr(tally, name) + count)
            continue
        name = histogram_of[gid]
        if value is None:  # the calls the histogram does not look at
            continue
        bucket = cause_class(None if value == _NO_CAUSE else value) if name == "causes" else value
        for target in (tally_of(values), total):
            hist = getattr(target, name)
            hist[bucket] = hist.get(bucket, 0) + calls
