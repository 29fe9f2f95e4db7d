"""What an export is made of: manifests (plain dicts, as a cluster reads them), the comments that
go with them, and a note for everything roost does that the target cannot do or does differently."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from roost.findings import Finding

Target = Literal["podman", "kubernetes"]
TARGETS: tuple[Target, ...] = ("podman", "kubernetes")
Manifest = dict[str, Any]


@dataclass
class Document:
    """One YAML document; `manifest` None is a comment block only (it is written before the next document)."""

    manifest: Manifest | None
    comments: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.manifest["kind"] if self.manifest else ""

    @property
    def name(self) -> str:
        return self.manifest["metadata"]["name"] if self.manifest else ""


@dataclass
class Bundle:
    """Everything one `roost export kube` writes for one app and target."""

    app: str
    target: Target
    documents: list[Document]
    notes: list[Finding]
    with_secrets: bool = False

    @property
    def manifests(self) -> list[Manifest]:
        return [d.manifest for d in self.documents if d.manifest is not None]

    def find(self, kind: str, name: str | None = None) -> Manifest:
        for m in self.manifests:
            if m["kind"] == kind and (name is None or m["metadata"]["name"] == name):
                return m
        raise KeyError(f"{kind}/{name}")

    @property
    def filename(self) -> str:
        return f"{self.app}.{self.target}.yaml"
