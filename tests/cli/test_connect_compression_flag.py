"""``tether connect --no-compression``: the session offers no permessage-deflate."""

from __future__ import annotations

import argparse

import tether
from tether.cli.connect.options import add_parser, options_from_args


def parse(*argv: str) -> tether.Config:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return options_from_args(parser.parse_args(["connect", *argv])).config


def test_compression_is_offered_by_default() -> None:
    assert parse("ws://127.0.0.1:1/").compression == tether.Compression()


def test_no_compression_turns_it_off() -> None:
    assert parse("ws://127.0.0.1:1/", "--no-compression").compression is None


def test_no_compression_wins_over_a_config_file(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "c.toml"
    path.write_text("[compression]\nclient_max_window_bits = 10\n")
    assert parse("ws://127.0.0.1:1/", "--config", str(path)).compression == tether.Compression(
        client_max_window_bits=10
    )
    assert parse("ws://127.0.0.1:1/", "--config", str(path), "--no-compression").compression is None
