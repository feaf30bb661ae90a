"""Every code block of README.md and docs/*.md is run by a test, so none can rot.

The rule, per fenced block (found by :mod:`tests.docs_blocks`, keyed by its
``title="..."`` or the heading it sits under):

* a ```` ```python ```` block is run, as written, by the test :data:`RUN` names for it:
  a short block as the body of an ``async def`` with the names it leaves to the reader
  (``url``, ``handle`` ...) supplied; a titled file (``title="market_bot.py"``) saved
  under its title and run by pytest, imported, or run as a program. Every server is
  in memory (``tether.testing``) or on 127.0.0.1;
* a ```` ```console ```` (or ``shell``, ``bash``, ``sh``) block is run by the test
  :data:`RUN` names, or is listed in :data:`SHELL_NOT_RUN` with the reason it is not
  (it installs packages, or runs for half a minute);
* a block without a language (a diagram, a tree, output) and a MyST directive
  (```` ```{toctree} ````) are not code;
* any other language fails :func:`test_every_block_follows_the_rule` until the rule
  above says what to do with it.

So a new block fails here until a test runs it (or, for a command, until it is listed
with a reason), and :func:`test_every_test_named_exists_and_names_its_block` checks
that the test named exists and names the block's key, which it passes to
:func:`tests.docs_blocks.block` to get the code.
"""

from __future__ import annotations

import importlib
import inspect

from .docs_blocks import all_blocks

SHELL = {"console", "shell", "bash", "sh"}
TEXT = {"", "text"}

EXAMPLES = "tests/test_docs_examples.py"
MIGRATING = "tests/test_docs_migrating.py"
COOKBOOK = "tests/test_docs_cookbook.py"
DELIVERY = "tests/test_docs_delivery.py"
DELIVERY_PAGE = "tests/delivery/test_delivery_docs.py"
DISCORD = "tests/delivery/test_discord_recipe.py"
README = "tests/test_readme.py"

#: ``(page, key)`` of each block that is run: the tests that run it.
RUN: dict[tuple[str, str], list[str]] = {
    ("README.md", "A bot that re-subscribes after every reconnect"): [
        f"{README}::test_readme_bot_resubscribes_after_a_drop"
    ],
    ("README.md", "Proxies and redirects"): [f"{README}::test_readme_proxy_goes_through_socks5h"],
    ("docs/tutorial.md", "Connect, send, receive"): [
        f"{EXAMPLES}::test_tutorial_connect_send_receive"
    ],
    ("docs/tutorial.md", "Watch what happens"): [
        f"{EXAMPLES}::test_tutorial_watch_what_happens_ends_after_closed"
    ],
    ("docs/tutorial.md", "Tune it"): [f"{EXAMPLES}::test_tutorial_tune_it"],
    ("docs/tutorial.md", "echo_server.py"): [
        f"{EXAMPLES}::test_tutorial_echo_server_answers_the_first_program"
    ],
    ("docs/tutorial.md", "A server to talk to"): [
        f"{EXAMPLES}::test_tutorial_echo_server_answers_the_first_program"
    ],
    ("docs/tutorial.md", "counter.py"): [f"{EXAMPLES}::test_tutorial_counter_survives_a_restart"],
    ("docs/howto-testing.md", "conftest.py"): [
        f"{EXAMPLES}::test_the_howto_has_the_examples_it_promises",
        f"{EXAMPLES}::test_the_howto_examples_pass",
    ],
    ("docs/howto-testing.md", "test_bot.py"): [
        f"{EXAMPLES}::test_the_howto_examples_pass",
        f"{EXAMPLES}::test_the_bot_example_catches_a_bot_that_subscribes_only_once",
    ],
    ("docs/howto-testing.md", "test_with_session.py"): [
        f"{EXAMPLES}::test_the_howto_examples_pass"
    ],
    ("docs/howto-recipes.md", "Authenticate (or re-subscribe) on every connection"): [
        f"{EXAMPLES}::test_recipe_authenticate_logs_in_on_the_connection",
        f"{EXAMPLES}::test_recipe_authenticate_refused_is_not_retried_the_session_ends",
        f"{EXAMPLES}::test_recipe_authenticate_retries_a_connection_dropped_inside_on_connect",
    ],
    ("docs/howto-recipes.md", "Refresh a token on every reconnect"): [
        f"{EXAMPLES}::test_recipe_refresh_calls_the_headers_callable_before_every_attempt",
        f"{EXAMPLES}::test_recipe_refresh_a_token_with_a_newline_ends_the_session_unretried",
    ],
    ("docs/howto-recipes.md", "Fail over between URLs"): [
        f"{EXAMPLES}::test_recipe_fail_over_tries_the_urls_in_order"
    ],
    ("docs/howto-recipes.md", "Give up, then fall back"): [
        f"{EXAMPLES}::test_recipe_give_up_falls_back_after_give_up_after"
    ],
    ("docs/howto-recipes.md", "Decode JSON into classes"): [
        f"{EXAMPLES}::test_recipe_decode_json_into_classes",
        f"{EXAMPLES}::test_recipe_decode_json_a_bad_message_is_a_decode_error_with_raw",
    ],
    **{
        ("docs/migrating.md", f"basic: {library}"): [
            f"{MIGRATING}::test_connect_send_receive_prints_the_echo"
        ]
        for library in ("websockets", "websockets.trio", "trio-websocket", "tether")
    },
    **{
        ("docs/migrating.md", f"options: {library}"): [
            f"{MIGRATING}::test_the_same_options_reach_the_server_alike"
        ]
        for library in ("websockets", "tether")
    },
    **{
        ("docs/migrating.md", f"loop: {library}"): [
            f"{MIGRATING}::test_each_reconnect_loop_subscribes_on_both_connections"
        ]
        for library in ("websockets", "trio-websocket", "tether")
    },
    **{
        ("docs/migrating.md", f"rejected: {library}"): [
            f"{MIGRATING}::test_a_refused_handshake_is_caught_as_the_page_says"
        ]
        for library in ("websockets", "trio-websocket", "tether")
    },
    ("docs/migrating.md", "ping: tether"): [f"{MIGRATING}::test_ping_prints_the_round_trip"],
    ("docs/delivery.md", "Delivery: nothing lost end to end"): [
        f"{DELIVERY}::test_the_program_sends_requests_and_reads_each_message_once"
    ],
    ("docs/delivery.md", "Writing a dialect"): [
        f"{DELIVERY}::test_the_slack_dialect_acknowledges_each_envelope"
    ],
    ("docs/delivery.md", "Subscriptions"): [
        f"{DELIVERY_PAGE}::test_the_binance_style_subscription_is_answered_and_cancelled"
    ],
    ("docs/delivery.md", "Heartbeats"): [
        f"{DELIVERY_PAGE}::test_the_kraken_style_heartbeat_pings_every_15_s_and_takes_the_pongs"
    ],
    ("docs/delivery.md", "Paced sends"): [
        f"{DELIVERY_PAGE}::test_paced_sends_take_turns_with_the_resume_message"
    ],
    ("docs/delivery.md", "Recipe: a Discord-style gateway"): [
        f"{DISCORD}::test_a_resume_after_a_4000_close_replays_the_missed_dispatches_once",
        f"{DISCORD}::test_an_invalid_session_starts_a_fresh_one",
        f"{DISCORD}::test_op_7_reconnects_with_4000_and_resumes",
        f"{DISCORD}::test_heartbeats_at_hello_s_interval_and_a_zombie_connection_is_resumed",
    ],
    ("docs/cookbook.md", "market_bot.py"): [
        f"{COOKBOOK}::test_the_cookbook_test_suite_passes",
        f"{COOKBOOK}::test_the_cookbook_test_suite_catches_broken_bots",
        f"{COOKBOOK}::test_market_bot_runs_and_ctrl_c_closes_with_1001",
    ],
    ("docs/cookbook.md", "approval_bot.py"): [
        f"{COOKBOOK}::test_the_cookbook_test_suite_passes",
        f"{COOKBOOK}::test_the_cookbook_test_suite_catches_broken_bots",
        f"{COOKBOOK}::test_approval_bot_runs_and_acts_only_when_approved",
    ],
    ("docs/cookbook.md", "feedcat.py"): [
        f"{COOKBOOK}::test_feedcat_prints_what_the_page_shows",
        f"{COOKBOOK}::test_feedcat_exit_statuses",
        f"{COOKBOOK}::test_feedcat_ctrl_c_exits_130_after_closing_with_1001",
    ],
    ("docs/cookbook.md", "A command-line tool"): [
        f"{COOKBOOK}::test_feedcat_prints_what_the_page_shows"
    ],
    **{
        ("docs/cookbook.md", name): [f"{COOKBOOK}::test_the_cookbook_test_suite_passes"]
        for name in ("conftest.py", "test_market_bot.py", "test_approval_bot.py")
    },
}

#: ``(page, key)`` of each command block that is not run, and why.
SHELL_NOT_RUN: dict[tuple[str, str], str] = {
    ("README.md", "Set up (a fresh machine, Python ≥ 3.10)"): (
        "installs nox and runs the whole suite and the 30 s demo; the demo is "
        "tests/test_demo.py's and tests/cli's"
    ),
    ("docs/tutorial.md", "Tutorial"): "installs nox and runs the 30 s demo (tests/test_demo.py)",
}


def test_every_block_follows_the_rule() -> None:
    python: set[tuple[str, str]] = set()
    shell: set[tuple[str, str]] = set()
    other: list[str] = []
    for block in all_blocks():
        where = (block.page, block.key)
        if block.language == "python":
            python.add(where)
        elif block.language in SHELL:
            shell.add(where)
        elif block.language not in TEXT and not block.language.startswith("{"):
            other.append(f"{block.page}:{block.line}: {block.language}")
    assert other == [], "a block in a language the rule does not cover"
    run_shell = {where for where in RUN if where in shell}
    assert sorted(python - RUN.keys()) == [], "python blocks no test runs"
    assert sorted(shell - run_shell - SHELL_NOT_RUN.keys()) == [], "commands neither run nor exempt"
    assert sorted(RUN.keys() - python - shell) == [], "RUN names blocks that are gone"
    assert sorted(SHELL_NOT_RUN.keys() - shell) == [], "SHELL_NOT_RUN names blocks that are gone"
    assert not run_shell & SHELL_NOT_RUN.keys()


def test_every_test_named_exists_and_names_its_block() -> None:
    for (page, key), tests in RUN.items():
        assert tests, (page, key)
        for test in tests:
            path, _, name = test.partition("::")
            module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
            assert callable(getattr(module, name, None)), f"{test} does not exist"
            assert repr(key)[1:-1] in inspect.getsource(module), f"{path} never names {key!r}"
