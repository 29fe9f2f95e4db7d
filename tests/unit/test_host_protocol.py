"""The fake host and the real Runner both offer every method of the Host protocol, with the same
parameters: unit tests through the fake exercise exactly the seam the verbs use."""

from __future__ import annotations

import inspect

import pytest

from roost.host.runner import Host, Runner
from tests.unit.fakehost import FakeHost

METHODS = sorted(n for n, v in vars(Host).items() if callable(v) and not n.startswith("_"))


def params(fn) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in inspect.signature(fn).parameters.values() if p.name != "self"]


def test_the_protocol_has_what_the_verbs_use():
    assert {"run", "pipe", "mask", "exec_interactive", "read_file", "write_file"} <= set(METHODS)


@pytest.mark.parametrize("impl", [Runner, FakeHost])
@pytest.mark.parametrize("name", METHODS)
def test_implementations_match_the_protocol(impl, name):
    assert params(getattr(impl, name)) == params(getattr(Host, name)), f"{impl.__name__}.{name}"


def test_app_is_typed_against_the_protocol():
    from typing import get_type_hints

    from roost.app import App

    assert get_type_hints(App)["host"] is Host
