"""The dashboard's pure parts: languages, the catalogue, throttling, selection, masking."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from callpool.accounts.access import Access
from callpool.errors import NotFound, ValidationError
from callpool.reports.call_list import mask_number
from callpool.reports.dashboard import i18n
from callpool.reports.dashboard.selection import CampaignChoice, parse_selection
from callpool.reports.dashboard.throttle import LoginThrottle

pytestmark = pytest.mark.pure
PACKAGE = Path(i18n.__file__).parent


def test_accept_language_is_read_by_preference() -> None:
    assert i18n.parse_accept_language("en;q=0.5, ru-RU, tr;q=0") == ["ru", "en"]
    assert i18n.choose_locale(None, "de-DE, ru;q=0.8") == "ru"
    assert i18n.choose_locale("en", "ru") == "en"
    assert i18n.choose_locale(None, "de, fr") == "en"


def test_every_message_has_a_russian_translation() -> None:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _c, _ctx in extract_from_dir(
            str(PACKAGE), method_map, options_map=options, keywords=keywords
        )
    }
    po = PACKAGE / "locale" / "ru" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as source:
        translated = {m.id for m in read_po(source) if m.id and m.string}
    assert len(found) > 150
    assert sorted(found - translated) == []


def test_numbers_follow_the_locale() -> None:
    assert i18n.fmt_number(1234567, "en") == "1,234,567"
    assert i18n.fmt_number(1234567, "ru") == "1\xa0234\xa0567"
    assert i18n.fmt_pct(12.345, "ru") == "12,3\xa0%"
    assert i18n.fmt_ratio(None, "en") == "—"
    assert i18n.fmt_seconds(3725, "en") == "1:02:05"
    assert i18n.fmt_date(date(2026, 12, 1), "ru") == "1 дек. 2026\u202fг."  # noqa: RUF001


def test_five_failures_block_the_name_for_a_while_and_success_clears() -> None:
    throttle = LoginThrottle()
    for second in range(5):
        assert throttle.retry_after("Ann", "10.0.0.1", second) == 0
        throttle.failed("Ann", "10.0.0.1", second)
    assert throttle.retry_after("ann", "10.0.0.1", 10) == pytest.approx(900 - 10)
    assert throttle.retry_after("ann", "10.0.0.2", 10) == 0
    assert throttle.retry_after("ann", "10.0.0.1", 901) == 0
    throttle.succeeded("ann", "10.0.0.1")
    assert throttle.retry_after("ann", "10.0.0.1", 11) == 0


def test_many_names_from_one_address_block_the_address() -> None:
    throttle = LoginThrottle()
    for n in range(30):
        throttle.failed(f"user{n}", "10.0.0.9", n)
    assert throttle.retry_after("someone-else", "10.0.0.9", 31) > 0


CAMPAIGNS = [
    CampaignChoice(1, 10, "shop", "autumn", "Europe/Moscow"),
    CampaignChoice(2, 20, "other", "winter", "UTC"),
]


def test_selection_defaults_and_hidden_campaigns() -> None:
    chosen = parse_selection({}, CAMPAIGNS)
    assert chosen.campaign == CAMPAIGNS[0] and chosen.period == "last_7_days"
    assert parse_selection({"c": "2"}, CAMPAIGNS).campaign == CAMPAIGNS[1]
    # A campaign the user may not see is not in the list: the first visible one instead.
    assert parse_selection({"c": "99"}, CAMPAIGNS[:1]).campaign == CAMPAIGNS[0]


def test_periods_resolve_in_local_days() -> None:
    today = date(2026, 3, 15)
    pick = parse_selection
    assert pick({"period": "last_month"}, CAMPAIGNS).resolve(today) == (
        date(2026, 2, 1),
        date(2026, 2, 28),
    )
    custom = pick({"period": "custom", "from": "2026-01-01", "to": "2026-01-31"}, CAMPAIGNS)
    assert custom.resolve(today) == (date(2026, 1, 1), date(2026, 1, 31))
    assert custom.query() == "c=1&period=custom&from=2026-01-01&to=2026-01-31"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"period": "forever"}, "period: must be one of"),
        ({"period": "custom", "from": "2026-02-01", "to": "2026-01-01"}, "before the start"),
        ({"period": "custom", "from": "2024-12-31", "to": "2026-01-01"}, "at most 366 days"),
        ({"period": "custom", "from": "1.1.2026"}, "from: must be a date"),
    ],
)
def test_bad_periods_get_one_line(query: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_selection(query, CAMPAIGNS)


def test_masked_numbers_keep_the_ends() -> None:
    assert mask_number("+74951234567") == "+7495*****67"
    assert mask_number(None) is None
    assert mask_number("anonymous") == "anon***us"


def test_site_membership() -> None:
    viewer = Access(3, "anna", "viewer", all_sites=False, site_ids=frozenset({10}))
    assert viewer.can_see_site(10) and not viewer.can_see_site(20)
    assert not viewer.can_edit_site(10)
    with pytest.raises(NotFound):
        viewer.require_site(20, "other")
    boss = Access(1, "boss", "admin", all_sites=True)
    assert boss.is_superadmin and boss.visible([10, 20]) == [10, 20]
