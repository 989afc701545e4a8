"""The Q.850 cause of the customer's leg is kept on the call (failure reasons)."""

from __future__ import annotations

import pytest

from callpool.pbx.assembly.calls import assemble_calls
from tests.pbx.captures import load_capture

pytestmark = pytest.mark.pure


@pytest.mark.parametrize(
    ("capture", "outcomes"),
    [
        ("busy", [("busy", 17)]),
        ("missed-caller-hangup", [("abandoned", 19)]),
        ("answered", [("answered", 16)]),
        ("callback-noanswer", [("no_answer", 16)]),
        ("repeat-caller", [("abandoned", 19), ("answered", 16)]),
    ],
)
def test_hangup_cause_of_the_customers_leg_is_on_the_call(
    capture: str, outcomes: list[tuple[str, int]]
) -> None:
    calls = assemble_calls(load_capture(capture).events)
    assert [(call.outcome, call.hangup_cause) for call in calls] == outcomes
