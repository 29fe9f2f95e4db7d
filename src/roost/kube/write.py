"""Manifests as multi-document YAML, with comments for what has no equivalent.

Every string that YAML 1.1 (what Kubernetes' and podman's parsers follow) could read as something
else is quoted: `yes`, `on`, `0755`, `1:30`, `null`, or anything with a character outside a safe set."""

from __future__ import annotations

import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.representer import RoundTripRepresenter

from roost.kube.model import Bundle, Manifest

PLAIN_SAFE = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*\Z")
YAML11_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


class _Representer(RoundTripRepresenter):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # a probe's handler is written out in full each time, never as &anchor / *alias


def _represent_str(rep: RoundTripRepresenter, value: str) -> Any:
    plain = bool(PLAIN_SAFE.match(value)) and value.lower() not in YAML11_WORDS and not value.endswith(".")
    return rep.represent_scalar("tag:yaml.org,2002:str", value, style=None if plain else '"')


_Representer.add_representer(str, _represent_str)


def _yaml() -> YAML:
    y = YAML(typ="rt", pure=True)
    y.Representer = _Representer
    y.default_flow_style = False
    y.width = 1 << 16  # never fold a long value over lines
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def dump_manifest(manifest: Manifest) -> str:
    buf = io.StringIO()
    _yaml().dump(manifest, buf)
    return buf.getvalue()


def comment(lines: list[str]) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def render(bundle: Bundle, source: str = "") -> str:
    """The whole file: a header (what it is, what was dropped), then one document per manifest."""
    what = {"podman": "a pod for `podman kube play`", "kubernetes": "a bundle for `kubectl apply -f`"}[bundle.target]
    header = [f"roost export kube --target {bundle.target}: app {bundle.app}, {what}."]
    if source:
        header.append(f"From {source}. Written by roost; regenerate it rather than editing by hand.")
    if bundle.notes:
        header += ["", "Not carried over as roost runs it (see docs/kubernetes.md):"]
        header += [f"- {n.render_note()}" for n in bundle.notes]
    out = [comment(header)]
    pending: list[str] = []
    for doc in bundle.documents:
        if doc.manifest is None:
            pending += [*doc.comments, ""]
            continue
        out.append("---\n" + comment(pending + doc.comments) + dump_manifest(doc.manifest))
        pending = []
    if pending:
        out.append(comment(pending))
    return "".join(out)
