"""Report of ``nox -s mutants``: the kill rate per module of the last ``mutmut run``,
the surviving mutants, and a verdict against the floor.

Reads mutmut's result files (``mutants/**/*.py.meta``, next to the mutated copies) and
``equivalent.toml`` beside this file: mutants that cannot be killed because they change
nothing observable, each with the reason. Those are left out of the rate; every other
mutant counts, and one that survives or has no test counts against it. A timeout is a
kill (the mutant made the tests hang, and mutmut stopped them). Exits 1 when a module is
below ``FLOOR`` or an entry of ``equivalent.toml`` names a mutant that no longer exists.

Usage (repository root, after ``mutmut run``): ``python tests/mutation/report.py``.
"""

from __future__ import annotations

import json
import pathlib
import sys
from collections import Counter

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = pathlib.Path(__file__).resolve().parents[2]
FLOOR = 0.90
KILLED = {1, 3, 36, 24, -24, 152, 255}  # killed by a test, or timed out
SURVIVED = {0}
NO_TESTS = {5, 33}


def main() -> int:
    equivalent = tomllib.loads(pathlib.Path(__file__).with_name("equivalent.toml").read_text())
    justified = {name: entry["why"] for name, entry in equivalent.get("mutant", {}).items()}
    results: dict[str, int | None] = {}
    for meta in sorted((ROOT / "mutants" / "src").rglob("*.py.meta")):
        results.update(json.loads(meta.read_text())["exit_code_by_key"])
    if not results:
        print("no mutmut results: run `mutmut run` first")
        return 1
    stale = sorted(set(justified) - set(results))
    by_module: dict[str, Counter[str]] = {}
    surviving: list[str] = []
    for key, code in sorted(results.items()):
        module = key.split(".x_")[0].split(".xǁ")[0]
        counts = by_module.setdefault(module, Counter())
        if key in justified:
            counts["equivalent"] += 1
        elif code in KILLED:
            counts["killed"] += 1
        elif code in SURVIVED or code in NO_TESTS:
            counts["survived" if code in SURVIVED else "no tests"] += 1
            surviving.append(key)
        else:
            counts[f"exit {code}"] += 1
            surviving.append(key)
    failing = []
    print(f"{'module':38} {'mutants':>7} {'equiv':>5} {'killed':>6} {'alive':>5} {'rate':>7}")
    for module, counts in sorted(by_module.items()):
        counted = sum(counts.values()) - counts["equivalent"]
        alive = counted - counts["killed"]
        rate = counts["killed"] / counted if counted else 1.0
        if rate < FLOOR:
            failing.append(module)
        print(
            f"{module:38} {sum(counts.values()):>7} {counts['equivalent']:>5} "
            f"{counts['killed']:>6} {alive:>5} {rate:>7.1%}"
        )
    total = Counter[str]()
    for counts in by_module.values():
        total.update(counts)
    counted = sum(total.values()) - total["equivalent"]
    print(
        f"{'all':38} {sum(total.values()):>7} {total['equivalent']:>5} {total['killed']:>6} "
        f"{counted - total['killed']:>5} {total['killed'] / counted:>7.1%}"
    )
    if surviving:
        print("\nsurviving (see one with `mutmut show NAME`):")
        for key in surviving:
            print(f"  {key}")
    for key in stale:
        print(f"equivalent.toml names a mutant that no longer exists: {key}")
    for module in failing:
        print(f"below the {FLOOR:.0%} floor: {module}")
    return 1 if failing or stale else 0


if __name__ == "__main__":
    sys.exit(main())
