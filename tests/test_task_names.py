"""The tasks of a session carry constant names (Trio formats one per task otherwise, 90
bytes of every idle session): they must stay the names Trio would have made, so that a
traceback or a task dump reads as before."""

from __future__ import annotations

from tether.connection import ClientConnection
from tether.connection._open import READER_TASK_NAME
from tether.session._connect import SUPERVISOR_TASK_NAME
from tether.session._supervisor import Supervisor


def test_the_reader_task_is_named_as_trio_would_name_it() -> None:
    read = ClientConnection.read
    assert f"{read.__module__}.{read.__qualname__}" == READER_TASK_NAME


def test_the_supervisor_task_is_named_as_trio_would_name_it() -> None:
    run = Supervisor.run
    assert f"{run.__module__}.{run.__qualname__}" == SUPERVISOR_TASK_NAME
