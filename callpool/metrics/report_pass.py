"""The facts' non-additive figures in two passes over the period, on PostgreSQL.

``report_sql`` counts distinct callers (per row and for the total), hidden callers and
the four histograms (wait, talk, call-back delay, failure causes) with one statement
each: seven reads of the same facts, which at a year of a busy campaign (100,000 facts)
cost several times a bare ``GROUP BY`` over the whole calls table. PostgreSQL reads
them twice here, with one ``GROUPING SETS`` statement each:

- per row and caller, and per caller alone (the total): each caller's flags, whose
  counts in the outer query are the distinct counts; the callers with a hidden number
  form one group per row (and one for the total) whose calls each count as a caller;
- per row and wait (answered), talk (answered), call-back delay and hangup cause
  (missed; -1 stands for no cause): the histograms, summed into the total in Python
  as before.

One statement for both was measured slower than two: every grouping set computes every
aggregate of the statement. The figures are the ones the per-statement path gives (the
property test holds both to the pure definitions). SQLite has no ``GROUPING SETS`` and
keeps that path. ``work_mem`` is raised for the report's transaction only: hashing a
year's callers needs some tens of MB; with the default 4 MB PostgreSQL sorts on disk.
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
    row's key values) and of the total, in two statements."""
    await conn.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    await _callers(conn, keys, in_period, tally_of, total)
    await _histograms(conn, keys, in_period, tally_of, total)


def _grouping_ids(arguments: Sequence[Any], sets: Sequence[Sequence[Any]]) -> list[int]:
    """What ``GROUPING(*arguments)`` gives for each set: a bit per argument, most
    significant first, set when the argument is not grouped."""
    return [
        sum(
            1 << (len(arguments) - 1 - i)
            for i, a in enumerate(arguments)
            if all(a is not grouped for grouped in s)
        )
        for s in sets
    ]


async def _callers(
    conn: AsyncConnection,
    keys: Sequence[Any],
    in_period: tuple[Any, ...],
    tally_of: Callable[[Sequence[Any]], Tally],
    total: Tally,
) -> None:
    facts = (
        select(
            *[k.label(f"k{i}") for i, k in enumerate(keys)],
            F.customer.collate("C").label("customer"),  # bytes: no locale rules to hash by
            F.target,
            (F.status != "answered").label("missed"),
            F.called_back_by_us,
            F.called_back_by_themselves,
            F.attempted,
        )
        .where(*in_period)
        .subquery("f")
    )
    row_keys = [facts.c[f"k{i}"] for i in range(len(keys))]
    customer, c = facts.c.customer, facts.c
    sets = [[*row_keys, customer], [customer]]
    by_row, by_total = _grouping_ids([*row_keys, customer], sets)
    inner = (
        select(
            func.grouping(*row_keys, customer).label("g"),
            *[k.label(f"k{i}") for i, k in enumerate(row_keys)],
            customer.is_(None).label("hidden"),
            func.count().label("n"),
            *[
                _flag(func.bool_or(flag)).label(f"f{i}")
                for i, flag in enumerate(
                    (
                        c.target,
                        c.missed,
                        c.called_back_by_us | c.called_back_by_themselves,
                        c.called_back_by_us,
                        c.called_back_by_themselves,
                        c.attempted,
                    )
                )
            ],
            func.count().filter(c.target).label("tc"),
            func.count().filter(c.missed).label("mc"),
        )
        .group_by(func.grouping_sets(*[tuple_(*s) for s in sets]))
        .subquery("g")
    )
    outer_keys = [inner.c.g, *[inner.c[f"k{i}"] for i in range(len(keys))], inner.c.hidden]
    query = select(
        *outer_keys,
        func.count(),
        func.sum(inner.c.n),
        *[func.sum(inner.c[f"f{i}"]) for i in range(6)],
        func.sum(inner.c.tc),
        func.sum(inner.c.mc),
    ).group_by(*outer_keys)
    width = len(keys)
    for row in await conn.execute(query):
        gid, values, hidden = row[0], row[1 : 1 + width], row[1 + width]
        callers, calls, *flags, target_calls, missed_calls = (int(v or 0) for v in row[2 + width :])
        tally = total if gid == by_total else tally_of(values)
        if gid not in (by_row, by_total):
            raise AssertionError(f"unexpected grouping set {gid}")
        if hidden:  # a hidden caller id is a caller of its own per call
            tally.unique_calls += calls
            tally.unique_target_calls += target_calls
            tally.missed_callers += missed_calls
        else:
            for name, count in zip(_CALLER_FIELDS, (callers, *flags), strict=True):
                setattr(tally, name, getattr(tally, name) + count)


async def _histograms(
    conn: AsyncConnection,
    keys: Sequence[Any],
    in_period: tuple[Any, ...],
    tally_of: Callable[[Sequence[Any]], Tally],
    total: Tally,
) -> None:
    answered = F.status == "answered"
    facts = (
        select(
            *[k.label(f"k{i}") for i, k in enumerate(keys)],
            case((answered, F.wait_seconds)).label("wait_hist"),
            case((answered, F.talk_seconds)).label("talk_hist"),
            F.attempt_delay.label("delay_hist"),
            case((~answered, func.coalesce(F.hangup_cause, _NO_CAUSE))).label("causes"),
        )
        .where(*in_period)
        .subquery("f")
    )
    row_keys = [facts.c[f"k{i}"] for i in range(len(keys))]
    hists = [facts.c[name] for name in _HISTOGRAMS]
    sets = [[*row_keys, h] for h in hists]
    histogram_of = dict(zip(_grouping_ids([*row_keys, *hists], sets), _HISTOGRAMS, strict=True))
    query = select(
        func.grouping(*row_keys, *hists), *row_keys, func.coalesce(*hists), func.count()
    ).group_by(func.grouping_sets(*[tuple_(*s) for s in sets]))
    width = len(keys)
    for row in await conn.execute(query):
        gid, values, value, calls = row[0], row[1 : 1 + width], row[1 + width], int(row[-1])
        name = histogram_of[gid]
        if value is None:  # the calls the histogram does not look at
            continue
        bucket = cause_class(None if value == _NO_CAUSE else value) if name == "causes" else value
        for target in (tally_of(values), total):
            hist = getattr(target, name)
            hist[bucket] = hist.get(bucket, 0) + calls
