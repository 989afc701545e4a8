"""`callpool numbers import|add`, `site add`, `campaign add`: every refusal is one plain line.

Each error names the row and the column of the CSV in words (no validator jargon), and
a site's own number or a fallback never becomes a tracking number, nor the other way
round. On both databases; nothing is written when a row is refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import run

OWN = "+7 495 123-45-67"


@pytest.fixture
def shop(database_url: str) -> str:
    for command in (
        ("site", "add", "shop", "--origin", "https://shop.example", "--number", OWN),
        ("campaign", "add", "shop", "autumn", "--fallback-number", "+74957654321"),
        ("channel", "add", "shop", "autumn", "radio", "--kind", "static"),
        ("channel", "add", "shop", "autumn", "google"),
    ):
        code, _, err = run(database_url, *command)
        assert code == 0, err
    return database_url


def _import(database_url: str, tmp_path: Path, text: str) -> tuple[int, str, str]:
    csv_file = tmp_path / "numbers.csv"
    csv_file.write_text(text, encoding="utf-8")
    return run(database_url, "numbers", "import", str(csv_file))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            "+74950000002,shop,autum,",
            "row 2, column \"campaign\": no campaign 'autum' in site 'shop'",
        ),
        ("+74950000002,shopp,autumn,", "row 2, column \"site\": no site named 'shopp'"),
        ("+74950000002,,autumn,", 'row 2, column "site": is required'),
        ("+74950000002,shop", 'row 2, column "campaign": is required'),
        (",shop,autumn,", 'row 2, column "number": is required'),
        ("+74950000002,shop,autumn,radio,extra", "row 2: 5 cells, but the header has 4 columns"),
        ("+74950000002,<b>,autumn,", 'row 2, column "site": must be 1 to 120 characters,'),
        ("+1 555 000 0000,shop,autumn,", 'row 2, column "number": not a valid phone number'),
        (
            "+74950000002,shop,autumn,google",
            "row 2, column \"channel\": 'google' is a pool channel;",
        ),
        ("+74950000002,shop,autumn,tv", "row 2, column \"channel\": no channel named 'tv'"),
        ("+74950000001,shop,autumn,", 'row 2, column "number": +74950000001 is already in row 1'),
        (
            "8 495 123-45-67,shop,autumn,radio",
            "row 2, column \"number\": +74951234567 is an own number of site 'shop'; "
            "it cannot be a tracking number as well",
        ),
        (
            "+7 495 765-43-21,shop,autumn,",
            'row 2, column "number": +74957654321 is the fallback number of campaign '
            "'autumn' of site 'shop'; it cannot be a tracking number as well",
        ),
    ],
)
def test_every_import_error_names_row_and_column_in_words(
    shop: str, tmp_path: Path, rows: str, message: str
) -> None:
    text = f"number,site,campaign,channel\n+74950000001,shop,autumn,\n{rows}\n"
    code, out, err = _import(shop, tmp_path, text)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {message}"), err
    assert len(err.splitlines()) == 1
    for jargon in ("Field required", "String should", "Input should", "pattern", "pydantic"):
        assert jargon not in err
    # Nothing landed: the first row imports on its own afterwards.
    code, out, _ = _import(shop, tmp_path, "number,site,campaign\n+74950000001,shop,autumn\n")
    assert (code, out.strip()) == (0, "imported 1 numbers")


def test_a_number_already_tracking_names_its_row_and_owner(shop: str, tmp_path: Path) -> None:
    assert run(shop, "numbers", "add", "shop", "autumn", "+74950000005")[0] == 0
    code, _, err = _import(
        shop, tmp_path, "number,site,campaign\n+74950000001,shop,autumn\n+74950000005,shop,autumn\n"
    )
    assert code == 2
    assert err.strip() == (
        'error: row 2, column "number": +74950000005 is already a tracking number of '
        "campaign 'autumn' of site 'shop'"
    )


def test_numbers_add_refuses_the_sites_own_number(shop: str) -> None:
    code, out, err = run(shop, "numbers", "add", "shop", "autumn", "+74950000001", OWN)
    assert (code, out) == (2, "")
    assert "+74951234567 is an own number of site 'shop'" in err
    code, out, _ = run(shop, "pool", "status", "shop", "autumn")
    assert out.startswith("shop / autumn: 0 numbers")


def test_a_tracking_number_is_refused_as_own_or_fallback_number(shop: str) -> None:
    assert run(shop, "numbers", "add", "shop", "autumn", "+74950000001")[0] == 0
    code, out, err = run(shop, "site", "add", "blog", "--number", "8 495 000-00-01")
    assert (code, out) == (2, "")
    assert err.strip() == (
        "error: own_numbers: +74950000001 is a tracking number of campaign 'autumn' of site "
        "'shop'; it cannot be an own number as well"
    )
    code, out, err = run(
        shop, "campaign", "add", "shop", "winter", "--fallback-number", "+74950000001"
    )
    assert (code, out) == (2, "")
    assert err.startswith("error: fallback_number: +74950000001 is a tracking number")
    code, out, _ = run(shop, "site", "list")
    assert "blog" not in out


def test_a_bad_header_says_what_it_should_be(shop: str, tmp_path: Path) -> None:
    code, _, err = _import(shop, tmp_path, "phone,site,campaign\n+74950000002,shop,autumn\n")
    assert code == 2
    assert err.strip() == (
        "error: numbers.csv: the first line must be the header number,site,campaign "
        "(and optionally channel); it is phone,site,campaign"
    )
