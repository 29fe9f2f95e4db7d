"""`extends:` within one file: a service starts from a copy of the one it names, then its own keys win,
as compose merges them (mappings key by key, port and capability lists added, volumes by target)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from roost.compose.load import YMap, YSeq

MAPS = {"environment", "labels", "deploy", "healthcheck", "logging", "depends_on", "sysctls", "ulimits",
        "extra_hosts", "build"}
ADDED = {"ports", "expose", "cap_add", "cap_drop", "dns", "devices", "security_opt", "env_file", "tmpfs",
         "networks", "links", "external_links", "volumes"}


def _as_map(value: Any) -> YMap | None:
    """A KEY=VALUE list as a mapping (environment, labels), so both forms merge."""
    if isinstance(value, YMap):
        return value
    if isinstance(value, YSeq):
        out = YMap({}, value.line)
        for i, item in enumerate(value.items):
            key, sep, val = str(item).partition("=")
            out.items[key] = val if sep else None
            out.key_line[key] = value.at(i)
        return out
    return None


def merge(base: YMap, child: YMap) -> YMap:
    out = YMap(dict(base.items), child.line, dict(base.key_line))
    for key, value in child.items.items():
        old = base.items.get(key)
        line = child.at(key)
        if key in MAPS and _as_map(old) is not None and _as_map(value) is not None:
            a, b = _as_map(old), _as_map(value)
            assert a is not None and b is not None
            value = YMap({**a.items, **b.items}, line, {**a.key_line, **b.key_line})
        elif key in ADDED and isinstance(old, YSeq) and isinstance(value, YSeq):
            first, then = (value, old) if key == "volumes" else (old, value)  # a volume of the child wins its target
            value = YSeq([*first.items, *then.items], line, [*first.item_line, *then.item_line])
        out.items[key] = value
        out.key_line[key] = line
    return out


def resolve(services: YMap, add: Callable[..., None]) -> YMap:
    """services with every same-file `extends:` replaced by the merged keys; other forms reported."""
    done: dict[str, Any] = {}

    def one(name: str, seen: tuple[str, ...]) -> Any:
        if name in done:
            return done[name]
        body = services.get(name)
        if not isinstance(body, YMap) or "extends" not in body.items:
            return body
        where = f"services.{name}.extends"
        ext = body.get("extends")
        own = YMap({k: v for k, v in body.items.items() if k != "extends"}, body.line,
                   {k: v for k, v in body.key_line.items() if k != "extends"})
        base_name = ext if isinstance(ext, str) else ext.get("service") if isinstance(ext, YMap) else None
        if isinstance(ext, YMap) and ext.get("file") is not None:
            add("dropped", body.at("extends"), where, f"extends a service of another file ({ext.get('file')}): "
                "its keys are not read", "copy the keys of that service into this one and import again")
            return own
        if not isinstance(base_name, str) or base_name not in services.items or base_name in seen:
            add("dropped", body.at("extends"), where, f"extends {base_name!r}, which is not a service of this file "
                "(or extends back to this one)", "copy the keys it needs into this service")
            return own
        base = one(base_name, (*seen, name))
        merged = merge(base, own) if isinstance(base, YMap) else own
        done[name] = merged
        return merged

    return YMap({name: one(name, (name,)) for name in services.items}, services.line, dict(services.key_line))
