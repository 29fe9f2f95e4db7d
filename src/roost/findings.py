"""What a conversion could not carry over as is: one finding type for compose import's report
(`compose/report.py`) and Kubernetes export's notes (`kube/common.py`, `Builder.note`).

dropped: not carried over; approximated: carried over with a different meaning; review: carried over
as written, but worth a look (host paths, secrets written in clear); info: equivalent. An export notes
only the first two (NoteKind)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["dropped", "approximated", "review", "info"]
KINDS: tuple[Kind, ...] = ("dropped", "approximated", "review", "info")
NoteKind = Literal["dropped", "approximated"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """Text from a compose file as one printable line: every control character written as an escape
    (a raw newline or escape sequence from the file never reaches the terminal or the report)."""
    return _CONTROL.sub(lambda m: {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(m.group(), f"\\x{ord(m.group()):02x}"),
                        text)


@dataclass(frozen=True)
class Finding:
    kind: Kind
    where: str  # a key path: "services.app.ports" (compose), "containers.database.volumes" (spec), or "(file)"
    line: int | None  # 1-based line in the file it is about (the compose file, `file`, or the spec), when known
    did: str  # what roost did (for an export: what happens instead, and what to do about it)
    todo: str = ""  # what the user should do ("" when nothing)
    file: str | None = None  # another file the line is in (an env file), None for the file converted

    def render(self, source: str) -> str:
        """The import report's form: `FILE:LINE: WHERE: DID -> TODO`, as one printable line."""
        name = self.file or source
        loc = f"{name}:{self.line}" if self.line else name
        text = f"{loc}: {self.where}: {self.did}"
        return plain(f"{text} -> {self.todo}" if self.todo else text)

    def render_note(self, source: str = "") -> str:
        """The export's form: `SPEC:LINE: WHERE: KIND: DID` (the spec is roost's own, written as is)."""
        loc = f"{source}:{self.line}: " if source and self.line else (f"{source}: " if source else "")
        text = f"{self.did} -> {self.todo}" if self.todo else self.did
        return f"{loc}{self.where}: {self.kind}: {text}"
