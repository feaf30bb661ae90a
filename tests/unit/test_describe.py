"""tether._describe and the CLI's rejection text: errors in words, on one line."""

from __future__ import annotations

import sys

import tether
from tether._describe import describe_error, error_kind
from tether.cli._format import rejection_text

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup


def test_no_error_is_a_dash() -> None:
    assert (error_kind(None), describe_error(None)) == ("-", "-")


def test_a_bare_oserror_is_unwrapped_to_the_error_it_carries() -> None:
    outer = OSError("all attempts to connect to feed.example:443 failed")
    outer.__cause__ = ExceptionGroup("attempts", [ConnectionRefusedError(111, "refused")])
    assert describe_error(outer) == "ConnectionRefusedError: [Errno 111] refused"


def test_a_cause_that_loops_back_still_ends() -> None:
    looping = OSError("round and round")
    looping.__cause__ = looping
    assert describe_error(looping) == "OSError: round and round"


def test_a_rejection_without_a_body_is_the_status_alone() -> None:
    assert rejection_text(tether.HandshakeRejected(404, {}, b"")) == (
        "not a WebSocket endpoint: HTTP 404"
    )
    assert rejection_text(tether.HandshakeRejected(503, {}, b" \r\n ")) == (
        "handshake rejected: HTTP 503"  # blank: no excerpt
    )
