"""What an import did: every key that was dropped, approximated or needs a look, with its compose line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

# dropped: not carried over; approximated: carried over with a different meaning;
# review: carried over as written, but worth a look (host paths, secrets written in clear); info: equivalent.
Kind = Literal["dropped", "approximated", "review", "info"]
KINDS: tuple[Kind, ...] = ("dropped", "approximated", "review", "info")
SHELL = "(environment)"  # where a finding about a value taken from the importing shell says it is

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """Text from a compose file as one printable line: every control character written as an escape
    (a raw newline or escape sequence from the file never reaches the terminal or the report)."""
    return _CONTROL.sub(lambda m: {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(m.group(), f"\\x{ord(m.group()):02x}"),
                        text)


@dataclass(frozen=True)
class Finding:
    kind: Kind
    line: int | None  # 1-based line in the compose file (or in `file`)
    where: str  # "services.app.ports" or "(file)"
    did: str  # what roost did
    todo: str = ""  # what the user should do ("" when nothing)
    file: str | None = None  # another file the line is in (an env file), None for the compose file

    def render(self, source: str) -> str:
        name = self.file or source
        loc = f"{name}:{self.line}" if self.line else name
        text = f"{loc}: {self.where}: {self.did}"
        return plain(f"{text} -> {self.todo}" if self.todo else text)


@dataclass
class Report:
    source: str
    findings: list[Finding] = field(default_factory=list)

    def add(self, kind: Kind, line: int | None, where: str, did: str, todo: str = "", file: str | None = None) -> None:
        finding = Finding(kind, line, where, did, todo, file)
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
