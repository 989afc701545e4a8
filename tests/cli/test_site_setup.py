"""Setting up a site from the command line: the embed line, the missing origin, `site check`.

On both databases.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from callpool.cli import main
from callpool.db.engine import create_engine, transaction
from callpool.db.tables import Site
from tests.cli.test_cli import run

EMBED = '<script async src="https://track.example/s/{key}.js"></script>'


def _run(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main,
        ["--database-url", database_url, *args],
        env={"CALLPOOL_PUBLIC_URL": "https://track.example"},
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _key(database_url: str) -> str:
    return str(json.loads(_run(database_url, "site", "list", "--json")[1])[0]["public_key"])


def test_site_add_prints_the_embed_line_and_warns_without_an_origin(database_url: str) -> None:
    code, out, err = _run(database_url, "site", "add", "shop", "--number", "+74951234567")
    assert code == 0
    key = _key(database_url)
    assert out.splitlines() == [
        f"site 'shop' added; snippet key {key}",
        f"embed on every page: {EMBED.format(key=key)}",
    ]
    assert err.splitlines() == [
        "warning: no --origin: the server refuses the snippet's visits from every page (403) "
        "until one is allowed: callpool site update shop --add-origin https://www.example.com"
    ]
    code, _, err = _run(database_url, "site", "add", "blog", "--origin", "https://blog.example")
    assert (code, err) == (0, "")


def test_site_list_shows_each_sites_embed_line(database_url: str) -> None:
    _run(database_url, "site", "add", "shop", "--origin", "https://shop.example")
    key = _key(database_url)
    out = _run(database_url, "site", "list")[1]
    assert out.splitlines()[1] == f"  embed: {EMBED.format(key=key)}"
    rows = json.loads(_run(database_url, "site", "list", "--json")[1])
    assert rows[0]["embed"] == EMBED.format(key=key)
    # Without a public URL: where serve listens.
    out = run(database_url, "site", "list")[1]
    assert f'src="http://127.0.0.1:8080/s/{key}.js"' in out


def test_site_check_lists_what_is_missing_until_nothing_is(database_url: str) -> None:
    _run(database_url, "site", "add", "shop")
    code, out, _ = _run(database_url, "site", "check", "shop")
    assert code == 1
    assert "  MISSING  no allowed origin" in out and out.endswith("3 things missing\n")
    steps = [
        ("site", "update", "shop", "--add-origin", "https://shop.example"),
        ("site", "update", "shop", "--add-number", "+7 495 123-45-67"),
        ("campaign", "add", "shop", "autumn"),
        ("channel", "add", "shop", "autumn", "google", "--utm-source", "google"),
        ("channel", "add", "shop", "autumn", "billboard", "--kind", "static"),
        ("numbers", "add", "shop", "autumn", "+74950000001"),
    ]
    for step in steps:
        assert _run(database_url, *step)[0] == 0
    code, out, _ = _run(database_url, "site", "check", "shop")
    assert code == 1
    assert out.endswith(
        "  MISSING  campaign 'autumn': static channel 'billboard' has no number\n"
        "           fix: callpool numbers add shop autumn NUMBER --channel billboard\n"
        f"  embed    {EMBED.format(key=_key(database_url))}\n"
        "1 thing missing\n"
    )
    _run(database_url, "numbers", "add", "shop", "autumn", "+74950000002", "--channel", "billboard")
    code, out, _ = _run(database_url, "site", "check", "shop")
    assert (code, out.splitlines()[-1]) == (0, "ready: nothing missing")
    assert "  ok       campaign 'autumn': 1 numbers in its pool" in out


def test_site_check_finds_an_own_number_already_in_a_pool(database_url: str) -> None:
    # Data written before own and tracking numbers were kept apart.
    _run(database_url, "site", "add", "shop", "--origin", "https://shop.example")
    _run(database_url, "campaign", "add", "shop", "autumn")
    _run(database_url, "numbers", "add", "shop", "autumn", "+74951234567")

    async def give_the_site_that_number() -> None:
        engine = create_engine(database_url)
        try:
            async with transaction(engine) as session:
                await session.execute(update(Site).values(own_numbers=["+74951234567"]))
        finally:
            await engine.dispose()

    asyncio.run(give_the_site_that_number())
    code, out, _ = _run(database_url, "site", "check", "shop")
    assert code == 1
    assert (
        "  MISSING  own number +74951234567 is also a tracking number of campaign 'autumn' of "
        "site 'shop': calls to it are credited to visitors\n"
        "           fix: callpool numbers retire +74951234567\n"
    ) in out


def test_site_update_adds_origins_and_numbers_but_never_a_tracking_number(
    database_url: str,
) -> None:
    _run(database_url, "site", "add", "shop", "--origin", "https://shop.example")
    _run(database_url, "campaign", "add", "shop", "autumn")
    _run(database_url, "numbers", "add", "shop", "autumn", "+74950000001")
    code, out, _ = _run(
        database_url, "site", "update", "shop", "--add-origin", "https://WWW.shop.example/",
        "--add-origin", "https://shop.example", "--add-number", "8 495 123-45-67",
    )  # fmt: skip
    assert (code, out.strip()) == (
        0,
        "site 'shop': origins https://shop.example, https://www.shop.example; "
        "own numbers +74951234567",
    )
    code, out, err = _run(database_url, "site", "update", "shop", "--add-number", "+74950000001")
    assert (code, out) == (2, "")
    assert err.strip() == (
        "error: own_numbers: +74950000001 is a tracking number of campaign 'autumn' of site "
        "'shop'; it cannot be an own number as well"
    )
    assert "+74950000001" not in _run(database_url, "site", "list")[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("site", "update", "nosuch", "--add-origin", "https://x.example"), "no site named"),
        (
            ("site", "update", "shop"),
            "nothing to change: give --add-origin, --add-number or a recording option",
        ),
        (("site", "update", "shop", "--add-origin", "shop.example"), "must look like https"),
        (("site", "check", "nosuch"), "no site named 'nosuch'"),
    ],
)
def test_site_update_and_check_refuse_in_one_line(
    database_url: str, args: tuple[str, ...], message: str
) -> None:
    _run(database_url, "site", "add", "shop", "--origin", "https://shop.example")
    code, out, err = _run(database_url, *args)
    assert (code, out) == (2, "")
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.pure
def test_campaign_add_help_says_the_minimum_hold_time() -> None:
    out = CliRunner().invoke(main, ["campaign", "add", "--help"]).stdout
    assert "at least 30" in " ".join(out.split())
