"""Phone numbers: normalise what people and PBXes type into E.164, and format it back.

Every number callpool stores (pool DIDs, caller ids, forwarding targets) goes through
``normalize_e164`` so that ``8 495 123-45-67``, ``+7 (495) 123-45-67`` and Asterisk's
``74951234567`` are one row, ``+74951234567``.

Strict and lenient checks. ``phonenumbers`` knows two levels: *possible* (the length
fits the country's plan) and *valid* (the digits fall in an allocated range). By
default we ask for valid numbers, which catches typos in forms. ``strict=False``
accepts possible numbers too: a tracking DID must be storable even when it sits in a
range the library calls unallocated (US 555-01xx fiction numbers, a carrier's fresh
block newer than the installed metadata), and a caller id from the PBX is a fact, not
a form field. As of phonenumbers 9.0, the Moscow DIDs in our AMI captures
(``74950000001``..``74950000010``) and the ``7916xxxxxxx`` callers are valid, so the
strict default takes them.
"""

from __future__ import annotations

from typing import Literal

import phonenumbers
from phonenumbers import CountryCodeSource, NumberParseException, PhoneNumberFormat

from callpool.errors import InvalidPhoneNumber

__all__ = ["digits", "format_display", "normalize_e164"]

DisplayStyle = Literal["international", "national"]

# Long enough for any real number with punctuation; anything longer is not a phone
# number and phonenumbers would refuse it anyway (its limit is 250).
_MAX_INPUT_LENGTH = 64
# region_code_for_country_code's answers for "no such code" and "not a country" (+800).
UNKNOWN_REGION, NON_GEO_REGION = "ZZ", "001"
# How much of a bad input an error message repeats: enough to recognise it in a log.
_MAX_ECHO_LENGTH = 40

_FORMATS: dict[DisplayStyle, int] = {
    "international": PhoneNumberFormat.INTERNATIONAL,
    "national": PhoneNumberFormat.NATIONAL,
}


def normalize_e164(raw: str, default_region: str, *, strict: bool = True) -> str:
    """Return ``raw`` as E.164 (``+74951234567``) or raise ``InvalidPhoneNumber``.

    ``default_region`` (ISO 3166 alpha-2, e.g. ``"RU"``) says how to read numbers
    written without a country code; a leading ``+`` or a national trunk prefix such as
    Russia's ``8`` is understood. With ``strict=False`` a *possible* number is enough
    (see the module docstring). Numbers with an extension are refused: E.164 cannot
    hold one, and dropping it would merge two different lines.
    """
    if len(raw) > _MAX_INPUT_LENGTH:
        raise InvalidPhoneNumber(f"phone number too long: {_echo(raw)}")
    try:
        number = phonenumbers.parse(raw, default_region.upper() or None, keep_raw_input=True)
    except NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number: {_echo(raw)}") from exc
    if number.extension:
        raise InvalidPhoneNumber(f"phone number has an extension: {_echo(raw)}")
    acceptable = (
        phonenumbers.is_valid_number(number) if strict else phonenumbers.is_possible_number(number)
    )
    if not acceptable:
        kind = "valid" if strict else "possible"
        raise InvalidPhoneNumber(
            f"not a {kind} phone number for {_claimed_region(number, default_region)}: {_echo(raw)}"
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _claimed_region(number: phonenumbers.PhoneNumber, default_region: str) -> str:
    """Where the number says it belongs: its country code if written with one (``+1``
    makes it a North American number whatever the default), else the default region."""
    code = number.country_code
    if code is None or number.country_code_source == CountryCodeSource.FROM_DEFAULT_COUNTRY:
        return f"region {_echo(default_region)}"
    region = phonenumbers.region_code_for_country_code(code)
    named = f" ({region})" if region not in (UNKNOWN_REGION, NON_GEO_REGION) else ""
    return f"country code +{code}{named}"


def format_display(e164: str, style: DisplayStyle = "international") -> str:
    """Format a stored E.164 number for people: ``+7 495 123-45-67`` or ``8 (495) 123-45-67``."""
    if not e164.startswith("+"):
        raise InvalidPhoneNumber(f"not an E.164 number: {_echo(e164)}")
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException as exc:
        raise InvalidPhoneNumber(f"not an E.164 number: {_echo(e164)}") from exc
    return phonenumbers.format_number(number, _FORMATS[style])


def digits(e164: str) -> str:
    """The number's digits without ``+``: what Asterisk puts in ``Exten`` and ``CallerIDNum``."""
    return "".join(ch for ch in e164 if ch.isascii() and ch.isdigit())


def _echo(raw: str) -> str:
    """A bad input as an error message may repeat it: short, and without control
    characters (a newline in a log line forges a second entry)."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in raw[:_MAX_ECHO_LENGTH])
    suffix = "…" if len(raw) > _MAX_ECHO_LENGTH else ""
    return repr(shown + suffix)
