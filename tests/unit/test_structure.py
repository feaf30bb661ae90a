"""tether._structure on classes of its own: the strict hooks and the one-line error
paths for shapes ``tether.Config`` does not have (strings, lists, an optional table that
is neither a table nor a flag, a validator that raises something other than
``ConfigError``). ``Config.from_mapping``'s own messages: tests/cli/test_config_file.py.
"""

from __future__ import annotations

import attrs
import pytest

from tether import ConfigError
from tether._structure import Structurer


def _no_spaces(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if " " in value:
        raise ValueError("no spaces allowed")


def _shallow(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value > 9:
        raise ValueError("too deep")


@attrs.frozen
class Limits:
    depth: int = attrs.field(default=1, validator=_shallow)


@attrs.frozen
class Profile:
    name: str = attrs.field(default="x", validator=_no_spaces)
    tags: list[str] = attrs.Factory(list)
    limits: Limits | None = None
    retries: int | None = None


STRUCTURER = Structurer([Limits, Profile])


def problem(data: object) -> str:
    with pytest.raises(ConfigError) as info:
        STRUCTURER.structure(data, Profile)
    return str(info.value)


def test_a_string_must_be_a_string() -> None:
    assert STRUCTURER.structure({"name": "bot"}, Profile) == Profile(name="bot")
    assert problem({"name": 5}) == "name: expected a string, got 5"  # not str(5)
    assert problem({"name": None}) == "name: expected a string, got None"


def test_a_list_item_is_named_by_its_index() -> None:
    assert STRUCTURER.structure({"tags": ["a", "b"]}, Profile).tags == ["a", "b"]
    assert problem({"tags": ["a", 2, "c", False]}) == (
        "tags[1]: expected a string, got 2; tags[3]: expected a string, got False"
    )


def test_an_optional_table_takes_a_table_or_a_flag_and_nothing_else() -> None:
    assert STRUCTURER.structure({"limits": {"depth": 3}}, Profile).limits == Limits(3)
    assert STRUCTURER.structure({"limits": True}, Profile).limits == Limits()
    assert STRUCTURER.structure({"limits": False}, Profile).limits is None
    assert problem({"limits": "deep"}) == "limits: expected a table, true or false, got 'deep'"
    assert problem({"limits": {"depth": "3"}}) == "limits.depth: expected an integer, got '3'"


def test_an_optional_integer_is_false_to_disable() -> None:
    assert STRUCTURER.structure({"retries": False}, Profile).retries is None
    assert problem({"retries": 1.5}) == (
        "retries: expected an integer, or false to disable, got 1.5"
    )


def test_a_validator_error_of_another_type_is_named_with_its_type() -> None:
    """A validator's own ``ConfigError`` names its field (tether.config's do); any other
    error is shown with its type, prefixed with the path of the table it is in."""
    assert problem({"name": "two words"}) == "ValueError: no spaces allowed"
    assert problem({"limits": {"depth": 10}}) == "limits: ValueError: too deep"
