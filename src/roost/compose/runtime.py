"""How a service runs: `restart`, `deploy.restart_policy`, resource limits (`mem_limit`, `cpus`, `pids_limit`,
`deploy.resources`), `user` and `tmpfs` -> the spec's container keys, each difference a finding."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from roost.compose.load import YMap, YSeq
from roost.spec.model import TMPFS_RE, USER_RE, parse_size

Add = Callable[..., None]  # Converter.add(kind, line, where, did, todo="")
TRUE = {"true", "yes", "y", "on", "1"}
FALSE = {"false", "no", "n", "off", "0", ""}


def boolean(value: Any) -> bool | None:
    """A compose boolean: YAML's own, or text (an interpolated `${X}` arrives as "true")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    return None


def restart(svc: str, body: YMap, at: int, add: Add) -> str:
    """`restart:` or `deploy.restart_policy` -> always | on-failure | no (compose's default is no)."""
    where = f"services.{svc}"
    deploy = body.get("deploy")
    policy = deploy.get("restart_policy") if isinstance(deploy, YMap) else None
    if "restart" in body.items:
        text = str(body.get("restart")).strip()
        name, _, count = text.partition(":")
        line = body.at("restart")
        if name in ("always", "no", "on-failure"):
            if count:
                add("approximated", line, f"{where}.restart", f"{text}: the retry count is not modelled: "
                    "restart = \"on-failure\" restarts without a limit (systemd's start limit still applies)")
            return name
        if name == "unless-stopped":
            add("approximated", line, f"{where}.restart",
                "unless-stopped -> restart = \"always\": a container stopped by hand starts again with the app at "
                "boot (roost has no stopped-by-hand state); `roost down` stops the whole app")
            return "always"
        add("dropped", line, f"{where}.restart", f"{text!r} is not a restart policy: restart = \"no\" as compose's "
            "default", "write always, on-failure or no")
        return "no"
    if isinstance(policy, YMap):
        cond = str(policy.get("condition", "any"))
        for key in policy.items:
            if key != "condition":
                add("approximated", policy.at(key), f"{where}.deploy.restart_policy.{key}",
                    f"{key} is not modelled: systemd restarts after 100ms, up to its start limit (5 in 10s)")
        return {"any": "always", "on-failure": "on-failure", "none": "no"}.get(cond, "always")
    add("review", at, where, "no `restart:`: restart = \"no\", as compose's default (the container starts with "
        "the app and is not restarted when it stops)", "set restart = \"always\" for a long-running service")
    return "no"


def _size(value: Any) -> str | None:
    """A compose size (bytes, or 512m, 1g, 1gb, 2GiB) -> a spec size, or None."""
    text = str(value).strip().lower()
    m = re.fullmatch(r"([0-9]+)\s*([kmgt]?)(?:i?b)?", text)
    if not m:
        return None
    spec = f"{m.group(1)}{m.group(2)}"
    try:
        parse_size(spec)
    except ValueError:
        return None
    return spec


def limits(svc: str, body: YMap, add: Add) -> dict[str, Any]:
    """mem_limit, cpus, pids_limit and deploy.resources.limits -> limits (the smaller where both are given)."""
    where = f"services.{svc}"
    found: dict[str, tuple[Any, int, str]] = {}  # key -> (value, line, compose key)
    deploy = body.get("deploy")
    resources = deploy.get("resources") if isinstance(deploy, YMap) else None
    lim = resources.get("limits") if isinstance(resources, YMap) else None
    if isinstance(lim, YMap):
        for key in lim.items:
            target = {"memory": "memory", "cpus": "cpus", "pids": "pids"}.get(key)
            if target:
                found[target] = (lim.get(key), lim.at(key), f"deploy.resources.limits.{key}")
            else:
                add("dropped", lim.at(key), f"{where}.deploy.resources.limits.{key}", f"`{key}` is not modelled")
    for key, target in (("mem_limit", "memory"), ("cpus", "cpus"), ("pids_limit", "pids")):
        if key in body.items:
            found[target] = (body.get(key), body.at(key), key)
    out: dict[str, Any] = {}
    for target, (value, line, key) in found.items():
        if target == "memory":
            size = _size(value)
            if size is None:
                add("dropped", line, f"{where}.{key}", f"{value!r} is not a memory size roost takes (6m or more)")
                continue
            out["memory"] = size
        elif target == "cpus":
            try:
                cpus = float(value)
            except (TypeError, ValueError):
                cpus = -1.0
            if not 0 < cpus <= 1024:
                if cpus != 0:  # 0 is compose's "no limit"
                    add("dropped", line, f"{where}.{key}", f"{value!r} is not a number of CPUs")
                continue
            out["cpus"] = cpus
        else:
            pids = value if isinstance(value, int) and not isinstance(value, bool) else None
            if pids is None or pids in (0, -1):
                if pids is None:
                    add("dropped", line, f"{where}.{key}", f"{value!r} is not a number of processes")
                continue
            if pids < 16:
                add("approximated", line, f"{where}.{key}", f"{pids} -> 16 (roost's smallest pids limit)")
            out["pids"] = max(16, min(pids, 4_194_304))
    return out


def user(svc: str, body: YMap, add: Add) -> str | None:
    if "user" not in body.items:
        return None
    text = str(body.get("user")).strip()
    if USER_RE.match(text):
        return text
    add("dropped", body.at("user"), f"services.{svc}.user", f"{text!r} is not a user roost takes (USER[:GROUP])",
        "write a user name or number, optionally :GROUP")
    return None


def tmpfs(svc: str, body: YMap, add: Add) -> list[str]:
    """The service's `tmpfs:` (a path or a list of paths, with options after ':')."""
    value = body.get("tmpfs")
    items = [(value, body.at("tmpfs"))] if isinstance(value, str) else \
        [(str(v), value.at(i)) for i, v in enumerate(value.items)] if isinstance(value, YSeq) else []
    out = []
    for text, line in items:
        entry = tmpfs_entry(text.strip())
        if entry is None:
            add("dropped", line, f"services.{svc}.tmpfs", f"{text!r}: a tmpfs roost takes is PATH[:size=N,mode=NNNN]")
        else:
            out.append(entry)
    return out


def tmpfs_entry(text: str, size: Any = None, mode: Any = None) -> str | None:
    path, _, opts = text.partition(":")
    options = [o for o in opts.split(",") if o and o not in ("rw",)]
    if size is not None:
        m = re.fullmatch(r"([0-9]+)\s*([kmg]?)(?:i?b)?", str(size).strip().lower())
        if not m:
            return None
        options.append(f"size={m.group(1)}{m.group(2)}")
    if mode is not None:
        options.append(f"mode={mode}")
    entry = path + (":" + ",".join(options) if options else "")
    return entry if TMPFS_RE.match(entry) and path != "/" else None
