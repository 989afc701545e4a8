"""Who the callers are, from the number alone: region and line type (pure, no I/O).

``describe_number`` reads libphonenumber's metadata through ``phonenumbers``: the
geocoder's description of the number (a city or region for fixed lines, the country
for most mobile numbers) and its line type (mobile, fixed line, toll free, VoIP, ...).
A hidden caller, or a number libphonenumber does not know as valid, has neither.
The answers depend only on the number and the library's data, so they are cached.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType, geocoder

LANGUAGE = "en"
LINE_TYPES: dict[int, str] = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}


@lru_cache(maxsize=200_000)
def describe_number(number: str | None) -> tuple[str | None, str | None]:
    """(region, line type) of an E.164 number, or (None, None) if it is hidden or not
    a valid number."""
    if not number or not number.startswith("+"):
        return None, None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None, None
    if not phonenumbers.is_valid_number(parsed):
        return None, None
    region = geocoder.description_for_number(parsed, LANGUAGE) or None
    line = LINE_TYPES.get(phonenumbers.number_type(parsed), "unknown")
    return (region[:64] if region else None), line
