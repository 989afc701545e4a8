"""Every report of the API on both databases: the figures are the metrics engine's."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.metrics.report_query import ReportQuery, parse_report_query, run_report
from callpool.reports.call_list import missed_work_list
from callpool.reports.responses import jsonable
from tests.reports.api.conftest import Client, auth
from tests.reports.api.seed import HYPERLINK, LANDING, RTL, SUM, XSS, World


def _query(world: World, campaign: str = "autumn", by: str = "channel") -> ReportQuery:
    return parse_report_query("shop", campaign, start=str(world.start), end=str(world.end), by=by)


def _params(world: World, **more: Any) -> dict[str, Any]:
    return {"site": "shop", "campaign": "autumn", "from": str(world.start),
            "to": str(world.end), **more}  # fmt: skip


async def _get(client: Client, world: World, path: str, user: str = "boss", **more: Any) -> Any:
    response = await client.get(path, params=_params(world, **more), headers=auth(world, user))
    assert response.status == 200, await response.text()
    return await response.json()


@pytest.mark.parametrize(
    ("path", "by"),
    [("channels", "channel"), ("daily", "day"), ("hourly", "hour"), ("weekdays", "weekday"),
     ("agents", "agent")],
)  # fmt: skip
async def test_grouped_reports_equal_the_metrics_engine(
    client: Client, world: World, engine: AsyncEngine, path: str, by: str
) -> None:
    got = await _get(client, world, f"/api/v1/reports/{path}")
    expected = await run_report(engine, _query(world, by=by), datetime.now(UTC))
    assert got["total"] == jsonable(expected.report.total)
    assert len(got["rows"]) == len(expected.report.rows)
    for row, want in zip(got["rows"], expected.report.rows, strict=True):
        for name, value in want.figures.items():
            assert row[name] == jsonable(value), (path, name)
    assert got["campaign"] == "autumn" and got["timezone"] == "Europe/Moscow"
    assert got["from"] == str(world.start) and got["to"] == str(world.end)
    assert got["fresh_at"] is not None  # the roll-up ran: the answer says when
    if path == "channels":
        assert got["total"]["calls"] == 11  # 10 of the campaign, 1 on the main line
        kinds = [row["kind"] for row in got["rows"]]
        assert kinds[-2:] == ["unattributed", "untracked"]


async def test_status_and_failure_reasons_add_up_to_the_report(
    client: Client, world: World, engine: AsyncEngine
) -> None:
    got = await _get(client, world, "/api/v1/reports/status")
    total = (await run_report(engine, _query(world), datetime.now(UTC))).report.total
    by_status = {row["status"]: row["calls"] for row in got["rows"]}
    assert by_status == {s: total[s] for s in by_status}
    assert sum(by_status.values()) == total["calls"] == got["total"]["calls"]
    reasons = {row["reason"]: row["missed"] for row in got["failure_reasons"]["rows"]}
    assert reasons == {r: total[f"hangup_{r}"] for r in reasons}
    assert sum(reasons.values()) == total["missed"]
    assert reasons["busy"] == 1 and reasons["no_answer"] == 4  # cause 19 in the seed


async def test_callers_by_region_total_the_report(
    client: Client, world: World, engine: AsyncEngine
) -> None:
    got = await _get(client, world, "/api/v1/reports/callers")
    total = (await run_report(engine, _query(world), datetime.now(UTC))).report.total
    assert got["total"]["calls"] == total["calls"]
    assert got["total"]["callers"] == total["unique_calls"]
    assert got["total"]["first_time_calls"] == total["first_time_calls"]
    regions = {row["region"] for row in got["rows"]}
    assert "Russia" in regions and "hidden caller id" in regions


async def test_campaigns_side_by_side_and_two_periods(
    client: Client, world: World, engine: AsyncEngine
) -> None:
    both = ["autumn", "spring"]
    got = await _get(client, world, "/api/v1/reports/compare/campaigns", campaign=both)
    now = datetime.now(UTC)
    for row, name in zip(got["rows"], ("autumn", "spring"), strict=True):
        want = (await run_report(engine, _query(world, name), now)).report.total
        assert row == {"campaign": name, **jsonable(want)}
    periods = await _get(client, world, "/api/v1/reports/compare/periods",
                         compare_to=f"{world.start.replace(year=world.start.year - 1)}"
                         f"..{world.end.replace(year=world.end.year - 1)}")  # fmt: skip
    query = replace(_query(world), compare=parse_report_query(
        "shop", "autumn", period=f"{world.start.replace(year=world.start.year - 1)}"
        f"..{world.end.replace(year=world.end.year - 1)}").period)  # fmt: skip
    result = await run_report(engine, query, now)
    rows = {row["metric"]: row for row in periods["rows"]}
    assert rows["calls"]["current"] == result.report.total["calls"]
    assert rows["calls"]["previous"] == 0 and rows["calls"]["change_pct"] == "n/a"
    # A base that is not zero: the period just before (default) has none either, so
    # compare the campaign with itself shifted by zero days: change 0.
    same = await _get(client, world, "/api/v1/reports/compare/periods",
                      compare_to=f"{world.start}..{world.end}")  # fmt: skip
    assert {r["metric"]: r["change_pct"] for r in same["rows"]}["calls"] == 0.0


async def test_too_few_or_too_many_campaigns_is_a_clear_400(client: Client, world: World) -> None:
    for names in (["autumn"], ["a", "b", "c", "d", "e", "f"]):
        response = await client.get(
            "/api/v1/reports/compare/campaigns",
            params=_params(world, campaign=names),
            headers=auth(world, "boss"),
        )
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_input"


async def test_calls_list_pages_with_a_cursor_and_filters(
    client: Client, world: World, engine: AsyncEngine
) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        more = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await _get(client, world, "/api/v1/reports/calls", **more)
        seen += [row["id"] for row in page["rows"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    total = (await run_report(engine, _query(world), datetime.now(UTC))).report.total
    assert len(seen) == len(set(seen)) == total["calls"]
    target = await _get(client, world, "/api/v1/reports/calls", figure="target_calls")
    assert len(target["rows"]) == total["target_calls"]
    google = await _get(client, world, "/api/v1/reports/calls", channel="Google Ads")
    assert {r["channel"] for r in google["rows"]} == {"Google Ads"} and len(google["rows"]) == 3
    busy = await _get(client, world, "/api/v1/reports/calls", status="busy")
    assert [r["status"] for r in busy["rows"]] == ["busy"]
    caller = await _get(client, world, "/api/v1/reports/calls", caller="8 916 111-00-01")
    assert len(caller["rows"]) == 2
    sale = await _get(client, world, "/api/v1/reports/calls", outcome="sale")
    assert [r["value"] for r in sale["rows"]] == [1500.5]
    untracked = await _get(client, world, "/api/v1/reports/calls", row="untracked")
    assert [r["kind"] for r in untracked["rows"]] == ["untracked"]
    assert (await _get(client, world, "/api/v1/reports/calls", target="true"))["rows"]


async def test_hostile_visit_data_comes_back_verbatim_in_json(client: Client, world: World) -> None:
    page = await _get(client, world, "/api/v1/reports/calls", channel="Google Ads")
    row = page["rows"][0]
    assert (row["utm_source"], row["utm_medium"], row["utm_campaign"], row["utm_content"]) == (
        XSS,
        HYPERLINK,
        SUM,
        RTL,
    )
    assert row["landing_url"] == LANDING and row["attribution"] == "lease"
    assert row["click_ids"] == {"ttclid": "=cmd|' /C calc'!A0"}


async def test_viewer_of_a_masking_site_sees_masked_callers(client: Client, world: World) -> None:
    admin = await _get(client, world, "/api/v1/reports/calls", caller="+79161110001")
    viewer = await _get(client, world, "/api/v1/reports/calls", "anna", caller="+79161110001")
    assert {r["caller"] for r in admin["rows"]} == {"+79161110001"}
    assert {r["caller"] for r in viewer["rows"]} == {"+7916*****01"}


async def test_missed_list_is_the_work_list(
    client: Client, world: World, engine: AsyncEngine
) -> None:
    got = await _get(client, world, "/api/v1/reports/missed")
    want = await missed_work_list(engine, world.autumn, world.start, world.end)
    assert [r["caller"] for r in got["rows"]] == [c.customer for c in want]
    # The busy caller and the two abandons are waiting; the one we called back is not.
    assert "+79161110002" not in [r["caller"] for r in got["rows"]]
    assert "+79161110004" in [r["caller"] for r in got["rows"]]
    first = [c.first_missed_at for c in want]
    assert first == sorted(first)
