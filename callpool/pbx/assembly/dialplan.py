"""What a PBX's contexts and channel names mean for call tracking.

AMI tells us channels, contexts and dials; only the dialplan says which of them is a
customer calling a tracking number, an agent, or an agent calling out. ``PbxDialplan``
is that knowledge as data. Its defaults fit the test PBX of the captures
(``tests/fixtures/ami/``, ``extensions.conf`` in the captures' ``pbx-config``):

- **inbound**: a channel created in ``from-pstn`` is the inbound leg; its ``Exten`` is the
  dialled tracking number (DID). A Local channel's ``;1`` half is not: it is whoever
  originated into that context (in the captures, the simulated customer phone); the
  ``;2`` half runs the dialplan and is the PBX's inbound leg.
- **agents**: ``Local/<ext>@agents-...`` (an agent being rung) and
  ``Local/<ext>@agent-phone-...`` (an agent's own phone placing a call).
- **outbound / internal**: a channel in ``from-internal`` dials out. If it dials an
  agent, the call is internal (agent to agent); anything else (``pstn-out`` in the
  captures, a trunk on a real PBX) is an outbound call to a customer.

A real PBX overrides the patterns, e.g. ``agent_channel_patterns=(r"^PJSIP/(?P<ext>2\\d\\d)-",)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["PbxDialplan"]


@dataclass(frozen=True, slots=True)
class PbxDialplan:
    """Which contexts and channel names mean inbound, agent, outbound and internal."""

    pbx: str = "default"
    inbound_contexts: frozenset[str] = frozenset({"from-pstn"})
    internal_contexts: frozenset[str] = frozenset({"from-internal"})
    # Regular expressions with a named group ``ext``: the agent's extension.
    agent_channel_patterns: tuple[str, ...] = (r"^Local/(?P<ext>\d+)@(?:agents|agent-phone)-",)
    # Channels that are the caller's own device, never the PBX's inbound leg.
    device_channel_patterns: tuple[str, ...] = (r"^Local/.+;1$",)
    _agent_res: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)
    _device_res: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        agent_res = tuple(re.compile(p) for p in self.agent_channel_patterns)
        for pattern in agent_res:
            if "ext" not in pattern.groupindex:
                raise ValueError(f"agent channel pattern needs a group (?P<ext>...): {pattern}")
        # A frozen dataclass sets its derived fields once, here.
        object.__setattr__(self, "_agent_res", agent_res)
        object.__setattr__(
            self, "_device_res", tuple(re.compile(p) for p in self.device_channel_patterns)
        )

    def is_inbound_leg(self, channel: str, context: str) -> bool:
        """A channel created in an inbound context that is not a caller's device."""
        return context in self.inbound_contexts and not any(
            r.search(channel) for r in self._device_res
        )

    def is_internal_context(self, context: str) -> bool:
        """Whether a dial from this context is an agent calling out."""
        return context in self.internal_contexts

    def agent_extension(self, channel: str) -> str | None:
        """The agent's extension if the channel is an agent's, else None."""
        for pattern in self._agent_res:
            match = pattern.search(channel)
            if match:
                return match.group("ext")
        return None
