from __future__ import annotations

import pytest

from callpool.errors import InvalidPhoneNumber, ValidationError
from callpool.phone import digits, format_display, normalize_e164

pytestmark = pytest.mark.pure


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+7 (495) 123-45-67", "RU", "+74951234567"),
        ("8 495 123 45 67", "RU", "+74951234567"),
        ("8 (800) 555-35-35", "RU", "+78005553535"),
        ("  +74950000001  ", "RU", "+74950000001"),
        ("tel:+74950000001", "RU", "+74950000001"),
        (
            "+7" + "".join(chr(0xFF10 + int(d)) for d in "4951234567"),
            "RU",
            "+74951234567",
        ),  # full-width digits
        ("(212) 555-0199", "US", "+12125550199"),
        ("+1 212 555 0199", "RU", "+12125550199"),  # a '+' overrides the region
        ("+44 20 7946 0958", "GB", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 20 7946 0958", "ru", "+442079460958"),  # region case does not matter
    ],
)
def test_written_forms_normalise_to_e164(raw: str, region: str, expected: str) -> None:
    assert normalize_e164(raw, region) == expected


@pytest.mark.parametrize("did", [f"749500000{n:02d}" for n in range(1, 11)])
def test_asterisk_dids_without_plus_are_valid_in_russia(did: str) -> None:
    assert normalize_e164(did, "RU") == "+" + did


@pytest.mark.parametrize("caller", ["79161234567", "79160000000", "89161234567"])
def test_asterisk_mobile_callers_are_valid_in_russia(caller: str) -> None:
    assert normalize_e164(caller, "RU") == "+7" + caller[1:]


def test_us_fiction_range_is_refused_when_strict() -> None:
    with pytest.raises(InvalidPhoneNumber, match="not a valid phone number"):
        normalize_e164("(555) 010-0199", "US")


def test_us_fiction_range_is_accepted_when_lenient() -> None:
    assert normalize_e164("(555) 010-0199", "US", strict=False) == "+15550100199"


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("", "RU"),
        ("abc", "RU"),
        ("1234", "RU"),
        ("+7495", "RU"),
        ("4951234567", "XX"),  # unknown region and no country code
        ("+7 495 123-45-67 ext. 12", "RU"),
        ("+" + "1" * 300, "RU"),
    ],
)
def test_garbage_raises_invalid_phone_number(raw: str, region: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalize_e164(raw, region, strict=False)


def test_invalid_phone_number_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        normalize_e164("abc", "RU")


def test_error_message_names_the_input() -> None:
    with pytest.raises(InvalidPhoneNumber, match="'not a number'"):
        normalize_e164("not a number", "RU")


def test_error_message_truncates_long_input() -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_e164("x" * 60, "RU")
    message = str(info.value)
    assert "x" * 40 + "…" in message
    assert "x" * 41 not in message


def test_error_message_does_not_echo_control_characters() -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_e164("12\r\nFAKE LOG LINE\x1b[31m", "RU")
    message = str(info.value)
    assert "\r" not in message
    assert "\n" not in message
    assert "\x1b" not in message
    assert "FAKE LOG LINE" in message


@pytest.mark.parametrize(
    ("e164", "style", "expected"),
    [
        ("+74951234567", "international", "+7 495 123-45-67"),
        ("+74951234567", "national", "8 (495) 123-45-67"),
        ("+12125550199", "international", "+1 212-555-0199"),
        ("+12125550199", "national", "(212) 555-0199"),
        ("+442079460958", "national", "020 7946 0958"),
    ],
)
def test_format_display(e164: str, style: str, expected: str) -> None:
    assert format_display(e164, style) == expected  # type: ignore[arg-type]


def test_format_display_defaults_to_international() -> None:
    assert format_display("+74951234567") == "+7 495 123-45-67"


@pytest.mark.parametrize("bad", ["74951234567", "", "+", "+abc"])
def test_format_display_refuses_non_e164(bad: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        format_display(bad)


def test_digits_drops_the_plus() -> None:
    assert digits("+74950000001") == "74950000001"


@pytest.mark.parametrize(
    ("raw", "region", "named"),
    [
        ("+1 555 000 0000", "RU", "for country code +1 (US): '+1 555 000 0000'"),
        ("+7 000 000 00 00", "US", "for country code +7 (RU):"),
        ("+44 20 0000 00", "RU", "for country code +44 (GB):"),
        ("8 000 000 00 00", "RU", "for region 'RU':"),  # no country code: the default region
        ("(555) 010-0199", "US", "for region 'US':"),
    ],
)
def test_invalid_number_names_the_region_it_claims(raw: str, region: str, named: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as refused:
        normalize_e164(raw, region)
    assert named in str(refused.value)
