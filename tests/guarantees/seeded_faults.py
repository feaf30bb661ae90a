"""Put back, one at a time, the faults of ``seeded_faults.json`` (each breaks one
guarantee of docs/design.md's guarantee index) and check that the suite notices.

Run from the repository root: ``nox -s seeded_faults`` (or ``python
tests/guarantees/seeded_faults.py [N ...]`` inside the tests environment). For each fault
it applies the edits to ``src/``, runs pytest (stopping at the first failure), restores
the files, and prints the first failing test. Exits 1 if any fault survives. The files
are restored even when interrupted.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAULTS = pathlib.Path(__file__).with_name("seeded_faults.json")


def check(number: str, fault: dict[str, object]) -> bool:
    """True when the suite fails with ``fault`` in place (the fault is caught)."""
    saved: dict[pathlib.Path, str] = {}
    try:
        for edit in fault["edits"]:  # type: ignore[attr-defined]
            path = ROOT / edit["file"]
            text = path.read_text()
            saved.setdefault(path, text)
            if text.count(edit["old"]) != 1:
                raise SystemExit(f"fault {number}: its text is no longer in {edit['file']}")
            path.write_text(text.replace(edit["old"], edit["new"]))
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        for path, text in saved.items():
            path.write_text(text)
    failing = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    caught = bool(failing)  # a test failed: not a collection or syntax error
    verdict = failing[0].split(" - ")[0] if failing else result.stdout.splitlines()[-1:]
    status = "caught " if caught else "SURVIVED"
    print(f"fault {number:>2} {status} {fault['guarantee']}: {verdict}")
    return caught


def main(argv: list[str]) -> int:
    faults = json.loads(FAULTS.read_text())
    chosen = argv or list(faults)
    results = [check(number, faults[number]) for number in chosen]
    print(f"{sum(results)} of {len(results)} seeded faults caught")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
