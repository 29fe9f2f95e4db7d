"""docs/spec.md and the model cannot drift: every key is documented, every documented key exists,
and every TOML example loads."""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from roost.spec.load import parse_spec
from roost.spec.model import Spec

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec.md"
TEXT = DOC.read_text()
# "## `[containers.<name>]`" documents a table, "### `containers.<name>.image`" a key
HEADING = re.compile(r"^(#{2,3}) `\[?([a-z_.<>]+)\]?`\s*$", re.M)
NAME = "<name>"  # stands for any table name: secrets.<name>, containers.<name>


def model_paths(model: type[BaseModel], prefix: str = "") -> dict[str, bool]:
    """Every key path of the model -> whether it is a leaf (a value, not a table)."""
    out: dict[str, bool] = {}
    for field, info in model.model_fields.items():
        path = f"{prefix}{field}"
        args = typing.get_args(info.annotation) or (info.annotation,)
        sub = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if typing.get_origin(info.annotation) is dict and sub is not None:  # dict[name, Model]
            out[path] = False
            out[f"{path}.{NAME}"] = False
            out.update(model_paths(sub, f"{path}.{NAME}."))
        elif sub is not None:
            out[path] = False
            out.update(model_paths(sub, f"{path}."))
        else:
            out[path] = True
    return out


def documented() -> dict[str, str]:
    """Key path -> the text of its section (up to the next heading)."""
    heads = list(HEADING.finditer(TEXT))
    return {m.group(2): TEXT[m.end(): heads[i + 1].start() if i + 1 < len(heads) else len(TEXT)]
            for i, m in enumerate(heads)}


def test_model_walk_sees_nested_keys():
    paths = model_paths(Spec)
    assert paths["containers.<name>.health.start_period"] is True and paths["secrets.<name>"] is False


def test_every_documented_key_exists_in_the_model():
    unknown = sorted(set(documented()) - set(model_paths(Spec)))
    assert not unknown, f"docs/spec.md documents keys the spec does not have: {unknown}"


def test_every_model_key_is_documented():
    docs = set(documented())
    with_prefixes = {".".join(p.split(".")[:i]) for p in docs for i in range(1, p.count(".") + 2)}
    missing = sorted(set(model_paths(Spec)) - with_prefixes)
    assert not missing, f"keys missing from docs/spec.md: {missing}"
    leaves = sorted(p for p, leaf in model_paths(Spec).items() if leaf and p not in docs)
    assert not leaves, f"keys without their own '### `key`' section in docs/spec.md: {leaves}"


@pytest.mark.parametrize("path", [p for p in documented() if TEXT.find(f"### `{p}`") >= 0])
def test_each_key_section_has_type_and_example(path):
    section = documented()[path]
    if model_paths(Spec).get(path):
        assert "- Type:" in section and "- Renders:" in section, path
    assert "```toml" in section, f"{path}: no TOML example"


def toml_blocks() -> list[tuple[int, str]]:
    return [(TEXT[: m.start()].count("\n") + 1, m.group(1)) for m in re.finditer(r"^```toml\n(.*?)^```", TEXT, re.M | re.S)]


def complete(block: str) -> str:
    """A fragment made into a spec: add [app] and a container when the block has none."""
    data = tomllib.loads(block)
    text = block
    if "app" not in data:
        text = '[app]\nname = "docs"\n\n' + text
    if "containers" not in data:
        text += '\n[containers.docs-minimal]\nimage = "example.org/minimal:1"\n'
    return text


def test_the_docs_have_examples():
    assert len(toml_blocks()) >= sum(model_paths(Spec).values())


@pytest.mark.parametrize("line, block", toml_blocks(), ids=[f"line{n}" for n, _ in toml_blocks()])
def test_toml_example_loads(line, block):
    spec = parse_spec(complete(block), f"docs/spec.md (block at line {line})")
    data = tomllib.loads(block)
    # what the block says is what the spec holds (the completion added, never replaced)
    for cname, cdata in data.get("containers", {}).items():
        assert spec.containers[cname].image == cdata["image"]
    if "app" in data:
        assert spec.app.name == data["app"]["name"]
