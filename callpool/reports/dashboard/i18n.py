"""Languages of the dashboard: which one a request gets, its messages, and number formats.

English is the source language; other languages come from gettext catalogues in
``locale/<lang>/LC_MESSAGES/messages.po`` (Babel), read once when the app starts and
compiled in memory, so no compiled ``.mo`` file is committed or built. A request gets
the signed-in user's setting, else the best match of the browser's ``Accept-Language``,
else English. Numbers, percentages and dates are formatted by Babel for that language.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LOCALES = ("en", "ru")
DEFAULT = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}

_current: ContextVar[NullTranslations] = ContextVar("callpool_dashboard_translations")


def parse_accept_language(header: str) -> list[str]:
    """Primary language tags in the header's order of preference (q=0 dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.split("-")[0].lower()))
    return [tag for _q, _p, tag in sorted(ranked)]


def choose_locale(user_setting: str | None, accept_language: str) -> str:
    if user_setting in LOCALES:
        return str(user_setting)
    for tag in parse_accept_language(accept_language):
        if tag in LOCALES:
            return tag
    return DEFAULT


def load_catalogues(directory: Path = LOCALE_DIR) -> dict[str, NullTranslations]:
    """Every language's translations, compiled from its ``.po`` file in memory."""
    catalogues: dict[str, NullTranslations] = {DEFAULT: NullTranslations()}
    for locale in LOCALES:
        po = directory / locale / "LC_MESSAGES" / "messages.po"
        if locale == DEFAULT or not po.is_file():
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=locale)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        catalogues[locale] = Translations(compiled)
    return catalogues


def activate(translations: NullTranslations) -> None:
    """The translations of the request being handled (each request runs in its own task)."""
    _current.set(translations)


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; translated where it is shown."""
    return message


def gettext(message: str) -> str:
    return _current.get(NullTranslations()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _current.get(NullTranslations()).ngettext(singular, plural, n)


# ------------------------------------------------------------------ formats


def fmt_number(value: Any, locale: str, decimals: int = 0) -> str:
    if value is None:
        return "—"
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=locale)


def fmt_pct(value: Any, locale: str) -> str:
    """A percentage given as 0..100 (the metrics' ``_pct`` unit)."""
    if value is None:
        return "—"
    return format_decimal(value, format="#,##0.0", locale=locale) + "\u00a0%"


def fmt_ratio(value: Any, locale: str) -> str:
    """A fraction 0..1 shown as a percentage."""
    if value is None:
        return "—"
    return fmt_pct(float(value) * 100, locale)


def fmt_money(value: Any, locale: str) -> str:
    if value is None:
        return "—"
    return format_decimal(Decimal(str(value)), format="#,##0.00", locale=locale)


def fmt_seconds(value: Any, locale: str) -> str:
    """A duration as m:ss (h:mm:ss past an hour): how call centres read wait and talk."""
    if value is None:
        return "—"
    total = round(float(value))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def fmt_date(value: date | None, locale: str, form: str = "medium") -> str:
    if value is None:
        return "—"
    return format_date(value, format=form, locale=locale)


def fmt_day_short(value: date, locale: str) -> str:
    """A chart's day label: "Nov 25", "25 нояб."."""
    return format_skeleton("MMMd", value, locale=locale)


def fmt_datetime(value: datetime | None, locale: str, timezone: str = "UTC") -> str:
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(timezone))
    return format_datetime(local, format="short", locale=locale, tzinfo=ZoneInfo(timezone))


def fmt_time(value: datetime | None, locale: str, timezone: str = "UTC") -> str:
    if value is None:
        return "—"
    return format_time(value, format="medium", locale=locale, tzinfo=ZoneInfo(timezone))


FORMATS: Mapping[str, Any] = {
    "count": fmt_number,
    "pct": fmt_pct,
    "ratio": fmt_ratio,
    "money": fmt_money,
    "seconds": fmt_seconds,
}


def fmt_unit(value: Any, unit: str, locale: str) -> str:
    return str(FORMATS.get(unit, fmt_number)(value, locale))
