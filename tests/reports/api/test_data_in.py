"""Auth of the report API, call outcomes and spend import (API and CLI), and the OpenAPI
document (every route in it; real answers validate against its schemas)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.cli.main import main as cli
from callpool.db.engine import connection
from callpool.db.tables import AdSpend, Call
from callpool.metrics.jobs import roll_up
from callpool.metrics.report_query import parse_report_query, run_report
from callpool.web.openapi import served_paths
from tests.reports.api.conftest import Client, auth
from tests.reports.api.seed import World

REPORT = "/api/v1/reports/channels"


def _params(world: World, **more: Any) -> dict[str, Any]:
    return {"site": "shop", "campaign": "autumn", "from": str(world.start),
            "to": str(world.end), **more}  # fmt: skip


async def _total(engine: AsyncEngine, world: World) -> dict[str, Any]:
    query = parse_report_query("shop", "autumn", start=str(world.start), end=str(world.end))
    return (await run_report(engine, query, datetime.now(UTC))).report.total


async def test_no_token_401_viewer_reads_admin_writes_other_site_404(
    client: Client, world: World
) -> None:
    assert (await client.get(REPORT, params=_params(world))).status == 401
    bad = {"Authorization": "Bearer nope"}
    assert (await client.get(REPORT, params=_params(world), headers=bad)).status == 401
    assert (
        await client.get(REPORT, params=_params(world), headers=auth(world, "anna"))
    ).status == 200
    other = await client.get(REPORT, params=_params(world), headers=auth(world, "bob"))
    assert other.status == 404 and (await other.json())["error"] == "not_found"
    mine = await client.get(REPORT, params=_params(world, site="other", campaign="winter"),
                            headers=auth(world, "bob"))  # fmt: skip
    assert mine.status == 200
    call = world.call_ids[2]
    url = f"/api/v1/calls/{call}/outcome"
    viewer = await client.post(url, json={"outcome": "lead"}, headers=auth(world, "anna"))
    assert viewer.status == 403
    foreign = await client.post(url, json={"outcome": "lead"}, headers=auth(world, "bob"))
    assert foreign.status == 404
    boot = {"Authorization": "Bearer bootstrap-token-1"}
    assert (await client.get(REPORT, params=_params(world), headers=boot)).status == 200


async def test_outcome_is_idempotent_and_reaches_the_figures(
    client: Client, world: World, engine: AsyncEngine
) -> None:
    before = await _total(engine, world)
    call = world.call_ids[2]  # the missed Google Ads call: no outcome yet
    url = f"/api/v1/calls/{call}/outcome"
    body = {"outcome": "sale", "value": "2500.00"}
    first = await client.post(url, json=body, headers=auth(world, "boss"))
    assert first.status == 200, await first.text()
    assert (await first.json())["changed"] is True
    async with connection(engine) as conn:
        stamp = await conn.scalar(select(Call.updated_at).where(Call.id == call))
    again = await (await client.post(url, json=body, headers=auth(world, "boss"))).json()
    assert again["changed"] is False
    async with connection(engine) as conn:
        assert await conn.scalar(select(Call.updated_at).where(Call.id == call)) == stamp
    await roll_up(engine, datetime.now(UTC))  # the job finds the call by updated_at
    after = await _total(engine, world)
    assert after["successful_calls"] == before["successful_calls"] + 1
    assert after["revenue"] == before["revenue"] + Decimal("2500.00")
    wrong = await client.post(url, json={"outcome": "married"}, headers=auth(world, "boss"))
    assert wrong.status == 400 and "lead, sale, spam" in (await wrong.json())["message"]


async def test_outcome_by_caller_number_and_time(
    client: Client, world: World, engine: AsyncEngine
) -> None:
    at = (world.now - timedelta(hours=26, minutes=4)).astimezone().isoformat()
    body = {"caller": "8 (916) 111-00-03", "at": at, "outcome": "sale", "value": 10}
    done = await client.post("/api/v1/calls/outcome", json=body, headers=auth(world, "boss"))
    assert done.status == 200, await done.text()
    assert (await done.json())["call_id"] == world.call_ids[3]
    far = {**body, "at": (world.now - timedelta(days=20)).isoformat()}
    missing = await client.post("/api/v1/calls/outcome", json=far, headers=auth(world, "boss"))
    assert missing.status == 404


async def test_spend_import_replaces_a_day_and_is_all_or_nothing(
    client: Client, world: World, engine: AsyncEngine
) -> None:
    day = str(world.end)
    rows = [
        {"date": day, "campaign": "autumn", "channel": "Google Ads", "amount": "100.00"},
        {"date": day, "campaign": "autumn", "channel": "Яндекс Директ", "amount": "40.50"},
    ]
    done = await client.post("/api/v1/spend", json={"rows": rows}, headers=auth(world, "boss"))
    assert done.status == 200, await done.text()
    assert await done.json() == {"rows": 2, "days": 1, "replaced": 0}
    again = [{**rows[0], "amount": "70"}]
    replaced = await client.post("/api/v1/spend", json={"rows": again}, headers=auth(world, "boss"))
    assert await replaced.json() == {"rows": 1, "days": 1, "replaced": 2}
    async with connection(engine) as conn:
        stored = (await conn.execute(select(AdSpend.channel_id, AdSpend.amount))).all()
    assert [(c, Decimal(str(a))) for c, a in stored] == [
        (world.channels["Google Ads"], Decimal("70.00"))
    ]
    report = await (await client.get(REPORT, params=_params(world, period=f"{day}..{day}"),
                                     headers=auth(world, "boss"))).json()  # fmt: skip
    google = next(r for r in report["rows"] if r["channel"] == "Google Ads")
    assert google["ad_spend"] == 70.0
    bad = [rows[0], {**rows[1], "channel": "nope"}]
    refused = await client.post("/api/v1/spend", json={"rows": bad}, headers=auth(world, "boss"))
    assert refused.status == 404 and "row 2" in (await refused.json())["message"]
    async with connection(engine) as conn:
        assert len((await conn.execute(select(AdSpend.id))).all()) == 1  # nothing written
    foreign = await client.post("/api/v1/spend", json={"rows": rows}, headers=auth(world, "bob"))
    assert foreign.status == 404


def test_spend_and_outcome_from_the_command_line(
    world: World, database_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    file = tmp_path / "spend.csv"
    header = "date,campaign,channel,amount,currency\n"
    file.write_text(f"{header}{world.end},autumn,Google Ads,12.5,RUB\n", encoding="utf-8")
    done = runner.invoke(cli, ["--database-url", database_url, "spend", "import", str(file)])
    assert done.exit_code == 0, done.output
    assert "imported 1 rows for 1 campaign days" in done.output
    file.write_text(f"date,campaign,channel,amount\n{world.end},autumn,Google Ads,-1\n",
                    encoding="utf-8")  # fmt: skip
    bad = runner.invoke(cli, ["--database-url", database_url, "spend", "import", str(file)])
    assert bad.exit_code == 2 and 'row 1, column "amount"' in bad.output
    call = str(world.call_ids[4])
    args = ["--database-url", database_url, "outcome", "set", "--call", call, "--outcome", "lead"]
    assert "set" in runner.invoke(cli, args).output
    assert "unchanged" in runner.invoke(cli, args).output


async def test_openapi_covers_every_route_and_answers_validate(
    client: Client, world: World
) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = served_paths(client.app, skip_prefixes=("/app",))
    served = {(m, p.replace("{call_id:\\d+}", "{call_id}")) for m, p in served}
    served = {(m, p) for m, p in served if p != "/"}  # the dashboard's redirect
    assert served <= documented, served - documented
    checks = [
        ("channels", {}), ("daily", {}), ("hourly", {}), ("weekdays", {}), ("agents", {}),
        ("status", {}), ("callers", {}), ("missed", {}), ("calls", {"limit": 2}),
        ("compare/campaigns", {"campaign": ["autumn", "spring"]}), ("compare/periods", {}),
    ]  # fmt: skip
    for name, more in checks:
        path = f"/api/v1/reports/{name}"
        answer = await client.get(path, params=_params(world, **more), headers=auth(world, "boss"))
        assert answer.status == 200
        _validate(doc, path, "get", "200", await answer.json())
    error = await client.get(REPORT, params=_params(world))
    _validate(doc, REPORT, "get", "401", await error.json())
    done = await client.post(f"/api/v1/calls/{world.call_ids[0]}/outcome",
                             json={"outcome": "lead"}, headers=auth(world, "boss"))  # fmt: skip
    _validate(doc, "/api/v1/calls/{call_id}/outcome", "post", "200", await done.json())


def _validate(doc: dict[str, Any], path: str, method: str, status: str, body: Any) -> None:
    schema = doc["paths"][path][method]["responses"][status]["content"]["application/json"]
    wrapped = {**schema["schema"], "components": doc["components"]}
    jsonschema.validate(body, wrapped, cls=jsonschema.Draft202012Validator)


def test_a_user_added_for_one_site_gets_a_token_for_that_site_only(
    world: World, database_url: str
) -> None:
    runner = CliRunner(env={"CALLPOOL_USER_PASSWORD": "pw-carl-1234"})
    base = ["--database-url", database_url]
    added = runner.invoke(cli, [*base, "user", "add", "carl", "--site", "other"])
    assert added.exit_code == 0, added.output
    assert runner.invoke(cli, [*base, "user", "add", "dan", "--site", "nowhere"]).exit_code == 2
