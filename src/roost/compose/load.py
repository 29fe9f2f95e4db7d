"""Read a compose file into a tree that remembers the line of every key and item.

ruamel.yaml (round-trip mode) resolves anchors, aliases and `<<` merge keys and records positions;
this module turns its nodes into plain `YMap`/`YSeq` values so the converter never sees the library."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from roost.compose.interpolate import interpolate
from roost.errors import UsageError


@dataclass
class YMap:
    items: dict[str, Any]
    line: int  # 1-based line where the mapping starts
    key_line: dict[str, int] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.items.get(key, default)

    def at(self, key: str) -> int:
        return self.key_line.get(key, self.line)


@dataclass
class YSeq:
    items: list[Any]
    line: int
    item_line: list[int] = field(default_factory=list)

    def at(self, index: int) -> int:
        return self.item_line[index] if index < len(self.item_line) else self.line


def _key_line(node: CommentedMap, key: Any) -> int | None:
    """The line of `key` in node, looking through `<<` merges (ruamel records only the node's own keys)."""
    try:
        return int(node.lc.key(key)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        pass
    for entry in getattr(node, "merge", []) or []:
        merged = entry[1] if isinstance(entry, tuple) else entry  # ruamel < 0.19 kept (position, map) pairs
        if isinstance(merged, CommentedMap) and key in merged:
            found = _key_line(merged, key)
            if found:
                return found
    return None


def _convert(node: Any, line: int) -> Any:
    if isinstance(node, CommentedMap):
        start = (node.lc.line + 1) if node.lc.line is not None else line
        out = YMap({}, start)
        for key in node:
            skey = str(key) if key is not None else ""
            kline = _key_line(node, key) or start
            out.key_line[skey] = kline
            out.items[skey] = _convert(node[key], kline)
        return out
    if isinstance(node, CommentedSeq):
        start = (node.lc.line + 1) if node.lc.line is not None else line
        seq = YSeq([], start)
        for i, item in enumerate(node):
            try:
                iline = int(node.lc.item(i)[0]) + 1
            except (KeyError, TypeError, AttributeError):
                iline = start
            seq.item_line.append(iline)
            seq.items.append(_convert(item, iline))
        return seq
    if isinstance(node, str):
        return str(node)  # ruamel's scalar string types -> plain str
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)  # dates and the like: compose reads them as text


def parse_yaml(text: str, source: str) -> YMap:
    yaml = YAML(typ="rt")
    try:
        data = yaml.load(text)
    except MarkedYAMLError as e:
        at_end = "stream end" in str(e.problem or "")  # an unclosed [ or {: say where it opened
        mark = (e.context_mark if at_end and e.context_mark else None) or e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{source}{line}: not valid YAML: {e.problem or e.context}",
                         "fix the compose file; `docker compose config` shows the same error") from None
    except YAMLError as e:
        raise UsageError(f"{source}: not valid YAML: {e}") from None
    tree = _convert(data, 1)
    if not isinstance(tree, YMap):
        raise UsageError(f"{source}: a compose file is a mapping with a `services:` key",
                         "give a docker-compose.yml / compose.yaml file")
    return tree


Note = Callable[[str, int], None]


def interpolate_tree(tree: Any, env: Mapping[str, str], source: str, line: int, unset: Note,
                     used: Note | None = None) -> Any:
    """The tree with every string value interpolated (keys stay as written, as in compose)."""
    if isinstance(tree, YMap):
        return YMap({k: interpolate_tree(v, env, source, tree.at(k), unset, used) for k, v in tree.items.items()},
                    tree.line, dict(tree.key_line))
    if isinstance(tree, YSeq):
        return YSeq([interpolate_tree(v, env, source, tree.at(i), unset, used) for i, v in enumerate(tree.items)],
                    tree.line, list(tree.item_line))
    if isinstance(tree, str):
        return interpolate(tree, env, source=source, line=line, unset=lambda name: unset(name, line),
                           used=(lambda name: used(name, line)) if used else None)
    return tree


def load_compose(text: str, source: str, env: Mapping[str, str], unset: Note, used: Note | None = None) -> YMap:
    """Parse and interpolate. Top-level `x-` extension fields are left as written: they only matter
    through the anchors that services merge, and those copies are interpolated where they land."""
    tree = parse_yaml(text, source)
    out = YMap({}, tree.line, dict(tree.key_line))
    for key, value in tree.items.items():
        out.items[key] = value if key.startswith("x-") else interpolate_tree(value, env, source, tree.at(key), unset,
                                                                                  used)
    return out
