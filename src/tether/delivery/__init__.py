"""The delivery layer: nothing lost end to end over a :class:`tether.Session`.

A :class:`Dialect` says, for one server's protocol, which outbound messages carry an
id and how the server acknowledges them, where inbound messages carry a sequence
number, how replies name their request and what to send to resume.
"""

from ._dialect import Dialect, MessageId

__all__ = ["Dialect", "MessageId"]
