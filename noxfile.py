"""Every check of trio-tether runs through nox: ``nox -s tests lint typecheck``."""

from __future__ import annotations

import nox
import nox.command

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _install_group(session: nox.Session, group: str) -> None:
    session.install(*nox.project.dependency_groups(PYPROJECT, group))


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, regression (F1-F14) and loopback tests under branch coverage, the Python
    subprocesses they start (the CLI) included ([tool.coverage] in pyproject.toml); the
    report fails below its fail_under. Extra args go to pytest, and a run of a part of
    the suite (any args) reports its coverage without that floor."""
    session.install("-e", ".[cli]")
    _install_group(session, "test")
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "combine", "--quiet")
    floor = ["--fail-under=0"] if session.posargs else []
    session.run("coverage", "report", *floor)


@nox.session
def seeded_faults(session: nox.Session) -> None:
    """Put back each fault of tests/guarantees/seeded_faults.json, one at a time, and check
    that the suite fails (about 10 min). Args: fault numbers (default: all)."""
    session.install("-e", ".[cli]")
    _install_group(session, "test")
    session.run("python", "tests/guarantees/seeded_faults.py", *session.posargs)


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing (mutmut) of the pure and sans-I/O modules against their fast
    tests ([tool.mutmut] in pyproject.toml), then the kill rate per module and the
    survivors (tests/mutation/report.py; floor 90 %). About 10 min on 2 cores. Args go
    to ``mutmut run`` (e.g. a mutant-name glob to re-run some)."""
    session.install("-e", ".[cli]")
    _install_group(session, "test")
    session.install("mutmut==3.8.1")
    session.run("mutmut", "run", *session.posargs)
    session.run("python", "tests/mutation/report.py")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (with the flake8-async ASYNC rules), then the import-linter contracts of
    pyproject.toml: the layers of docs/design.md."""
    session.install("-e", ".")
    _install_group(session, "lint")
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "noxfile.py")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/."""
    session.install("-e", ".[cli]")
    _install_group(session, "typecheck")
    session.run("mypy")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: ``tether demo`` against an embedded local server with faults."""
    session.install("-e", ".[cli]")
    session.run("tether", "demo", *session.posargs)


@nox.session
def interop(session: nox.Session) -> None:
    """The same scenarios against servers we did not write: trio-websocket, Python
    ``websockets`` (subprocess) and Node ``ws`` (subprocess; skipped, with the reason,
    when node or npm is missing)."""
    session.install("-e", ".[cli]")
    _install_group(session, "test")
    try:
        session.run(
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--silent",
            "--prefix",
            "tests/interop/node",
            external=True,
        )
    except nox.command.CommandFailed:
        # No node/npm or no registry: the Node ws cases skip, naming the reason.
        session.warn("npm install failed; the Node ws interop cases will be skipped")
    session.run("pytest", "tests/interop", "-m", "interop", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the peers named in docs/design.md (benchmarks/README.md); args go
    to bench.py. Peer versions are pinned so that reports stay comparable."""
    session.install(
        "-e",
        ".",
        "trio-websocket==0.12.2",
        "websockets==17.4",
        "aiohttp==3.14.5",
        "picows==2.3.1",
        "msgspec==0.23.0",
    )
    session.run("python", "benchmarks/bench.py", *session.posargs)
    # What the tether.protocol logger costs, off and on, against a build without it.
    session.run(
        "python", "benchmarks/protocol_log_cost.py", "--rounds", "9", env={"PYTHONPATH": "src"}
    )
    # permessage-deflate on a JSON stream against Node ws (skipped without node).
    session.run("python", "benchmarks/deflate_stream.py")
    # What tether.delivery costs on round trips and streaming, as ratios against the plain
    # session (about a minute; with --quick a few seconds, nothing saved).
    quick_delivery = ["--quick", "--no-save"] if "--quick" in session.posargs else []
    session.run("python", "benchmarks/delivery_cost.py", *quick_delivery)
    # 10,000 concurrent sessions against one push server: open time, RSS, CPU per message
    # (about 3 minutes; with --quick 1,000 sessions, 5 ticks, 1 run, nothing saved).
    quick = ["--sessions", "1000", "--seconds", "5", "--runs", "1", "--no-save"]
    session.run("python", "benchmarks/scale.py", *(quick if "--quick" in session.posargs else []))


@nox.session(venv_backend="none")
def conformance(session: nox.Session) -> None:
    """The Autobahn|Testsuite fuzzing server against tether's client, all 517 cases
    (``../shared/conformance/run.sh``, which installs what it needs), then the bar of
    tests/conformance/check.py: no FAILED or UNIMPLEMENTED case, NON-STRICT only on the
    seven cases where a valid message shares a read with a bad frame."""
    session.run("bash", "../shared/conformance/run.sh", external=True)
    session.run("python3", "tests/conformance/check.py", external=True)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with Sphinx (MyST Markdown + autodoc); warnings fail it.
    The code blocks of the pages are run by the tests (tests/test_docs_*.py)."""
    session.install("-e", ".[cli]")
    _install_group(session, "docs")
    # -E: read every page again, so a docstring change is seen (and warned about).
    session.run(
        "sphinx-build", "-E", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html"
    )
