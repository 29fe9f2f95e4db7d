"""What an import did: every key that was dropped, approximated or needs a look, with its compose line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# dropped: not carried over; approximated: carried over with a different meaning;
# review: carried over as written, but worth a look (host paths, secrets written in clear); info: equivalent.
Kind = Literal["dropped", "approximated", "review", "info"]
KINDS: tuple[Kind, ...] = ("dropped", "approximated", "review", "info")


@dataclass(frozen=True)
class Finding:
    kind: Kind
    line: int | None  # 1-based line in the compose file
    where: str  # "services.app.ports" or "(file)"
    did: str  # what roost did
    todo: str = ""  # what the user should do ("" when nothing)

    def render(self, source: str) -> str:
        loc = f"{source}:{self.line}" if self.line else source
        text = f"{loc}: {self.where}: {self.did}"
        return f"{text} -> {self.todo}" if self.todo else text


@dataclass
class Report:
    source: str
    findings: list[Finding] = field(default_factory=list)

    def add(self, kind: Kind, line: int | None, where: str, did: str, todo: str = "") -> None:
        finding = Finding(kind, line, where, did, todo)
        if finding not in self.findings:
            self.findings.append(finding)

    @property
    def lossy(self) -> bool:
        """Anything dropped or approximated (what --strict refuses)."""
        return any(f.kind in ("dropped", "approximated") for f in self.findings)

    def sorted(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (KINDS.index(f.kind), f.line or 0, f.where))

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for f in self.findings if f.kind == k) for k in KINDS}

    def render(self) -> str:
        """Plain text, one finding a line, grouped by kind (the golden files pin this)."""
        out = []
        for f in self.sorted():
            out.append(f"{f.kind:<12} {f.render(self.source)}")
        return "\n".join(out) + ("\n" if out else "")
