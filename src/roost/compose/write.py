"""A spec draft -> tidy, commented TOML (tomlkit), in the order docs/spec.md uses."""

from __future__ import annotations

import re

import tomlkit
from tomlkit.items import Table

from roost.compose.convert import SpecDraft


def _array(items: list[str], one_line_up_to: int) -> tomlkit.items.Array:
    """A TOML array of strings, one per line when there are more than `one_line_up_to`."""
    arr = tomlkit.array()
    arr.extend(items)
    if len(items) > one_line_up_to:
        arr.multiline(True)
    return arr


def _comment_text(text: str) -> str:
    """One line of comment: compose content may hold anything, a comment may not."""
    return re.sub(r"[\x00-\x1f\x7f]", " ", text)


def render(draft: SpecDraft) -> str:
    doc = tomlkit.document()
    doc.add(tomlkit.comment(_comment_text(f"roost spec imported from {draft.source} by `roost import`.")))
    doc.add(tomlkit.comment("Read the import report; `roost check` validates this file, `roost plan` shows what it does."))
    for skipped in draft.skipped:
        doc.add(tomlkit.comment(_comment_text(f"not imported: {skipped}")))
    doc.add(tomlkit.nl())

    app = tomlkit.table()
    app.add("name", draft.name)
    doc.add("app", app)

    network = tomlkit.table()
    network.add(tomlkit.comment("one private network: each service its own namespace, found by its name"))
    doc.add("network", network)

    if draft.hosts:
        pod = tomlkit.table()
        if draft.hosts:
            pod.add("hosts", _array(draft.hosts, one_line_up_to=6))
            pod["hosts"].comment("the compose file's service names, now 127.0.0.1 in the pod")
        doc.add("pod", pod)

    if draft.secrets:
        secrets = tomlkit.table()
        for name, length in draft.secrets.items():
            generate = tomlkit.inline_table()
            generate.add("generate", length)
            secrets.add(name, generate)
        doc.add("secrets", secrets)

    containers = tomlkit.table(is_super_table=True)
    for name, c in draft.containers.items():
        t: Table = tomlkit.table()
        if c.service != name:
            t.add(tomlkit.comment(_comment_text(f"compose service {c.service!r}")))
        t.add("image", c.image)
        if name in draft.shares:
            t.add("share_network_with", draft.shares[name])
        if draft.own_publish.get(name):
            t.add("publish", _array(draft.own_publish[name], one_line_up_to=2))
            if draft.publish_notes:
                t["publish"].comment(_comment_text("; ".join(draft.publish_notes)))
        if draft.aliases.get(name):
            t.add("aliases", _array(draft.aliases[name], one_line_up_to=6))
        if c.auto_update:
            t.add("auto_update", c.auto_update)
        if c.requires:
            t.add("requires", c.requires)
        if c.env_file:
            t.add("env_file", c.env_file)
        if c.volumes:
            t.add("volumes", _array(c.volumes, one_line_up_to=2))
        if c.health:
            h = tomlkit.inline_table()
            for k, v in c.health.items():
                h.add(k, v)
            t.add("health", h)
        if c.entrypoint is not None:
            t.add("entrypoint", c.entrypoint)
        if c.command is not None:
            t.add("command", c.command)
        if c.cap_add:
            t.add("cap_add", c.cap_add)
        if c.read_only:
            t.add("read_only", True)
        if c.user is not None:
            t.add("user", c.user)
        if c.tmpfs:
            t.add("tmpfs", c.tmpfs)
        if c.restart != "always":
            t.add("restart", c.restart)
        if c.limits:
            limits = tomlkit.inline_table()
            for k, v in c.limits.items():
                limits.add(k, v)
            t.add("limits", limits)
        for key, note in c.notes.items():
            if key in t:
                t[key].comment(_comment_text(note))
        if c.env:
            env = tomlkit.table()
            for k, v in c.env.items():
                env.add(k, v)
            if "env" in c.notes:
                env.comment(_comment_text(c.notes["env"]))
            t.add("env", env)
        containers.add(name, t)
    doc.add("containers", containers)
    return tomlkit.dumps(doc)
