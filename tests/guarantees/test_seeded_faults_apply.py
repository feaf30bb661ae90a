"""The seeded faults of ``seeded_faults.json`` (run by ``nox -s seeded_faults``) still
apply: each edit's ``old`` text is in its file exactly once, so a refactor that moves
the guarded code shows here, in every test run, not only when the faults are seeded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAULTS = json.loads((Path(__file__).parent / "seeded_faults.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("number", sorted(FAULTS, key=int))
def test_each_seeded_fault_applies_to_the_source(number: str) -> None:
    for edit in FAULTS[number]["edits"]:
        text = (ROOT / edit["file"]).read_text(encoding="utf-8")
        assert text.count(edit["old"]) == 1, (
            f"fault {number} ({FAULTS[number]['guarantee']}): {edit['old']!r} should be in "
            f"{edit['file']} exactly once"
        )
