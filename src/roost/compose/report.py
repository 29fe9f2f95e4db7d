"""What an import did: every key that was dropped, approximated or needs a look, with its compose line."""

from __future__ import annotations

from dataclasses import dataclass, field

from roost.findings import KINDS, Finding, Kind, plain

__all__ = ["KINDS", "SHELL", "Finding", "Kind", "Report", "plain"]

SHELL = "(environment)"  # where a finding about a value taken from the importing shell says it is


@dataclass
class Report:
    source: str
    findings: list[Finding] = field(default_factory=list)

    def add(self, kind: Kind, line: int | None, where: str, did: str, todo: str = "", file: str | None = None) -> None:
        finding = Finding(kind, where, line, did, todo, file)
        if finding not in self.findings:
            self.findings.append(finding)

    @property
    def lossy(self) -> bool:
        """Anything dropped or approximated, or a value taken from the importing shell (what --strict refuses)."""
        return any(f.kind in ("dropped", "approximated") or f.where == SHELL for f in self.findings)

    def sorted(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (KINDS.index(f.kind), f.file or "", f.line or 0, f.where))

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for f in self.findings if f.kind == k) for k in KINDS}

    def render(self) -> str:
        """Plain text, one finding a line, grouped by kind (the golden files pin this)."""
        out = []
        for f in self.sorted():
            out.append(f"{f.kind:<12} {f.render(plain(self.source))}")
        return "\n".join(out) + ("\n" if out else "")
