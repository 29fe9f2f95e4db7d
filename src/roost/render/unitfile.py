"""A typed unit file and its one serializer, which owns quoting and escaping.

Values that systemd/Quadlet read as one string are written raw with `%` doubled (a
literal `%` would otherwise be a specifier). Values that are read as a list of words
(Exec=, Label=) are quoted word by word. Quadlet copies [Container] and [Pod] values into
ExecStart= without escaping `$`, where systemd would expand `$VAR`: there `$` is doubled.
The spec layer has already refused newlines and control characters, and the serializer
refuses them again: a unit must mean its input.
"""


from __future__ import annotations

from dataclasses import dataclass, field

# sections whose values end up on a command line that systemd expands
COMMAND_LINE_SECTIONS = ("Container", "Pod")
# settings whose parser does not resolve specifiers: `%%` would reach it as two characters (systemd then
# ignores `CPUQuota=50%%` and the limit silently becomes infinity, seen on the lab); roost writes their values
VERBATIM_PERCENT = ("CPUQuota",)


class UnsafeValue(ValueError):
    pass


def _check(value: str) -> None:
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        raise UnsafeValue(f"control characters cannot be written into a unit file: {value!r}")


def escape_raw(value: str) -> str:
    _check(value)
    value = value.replace("%", "%%")
    if value.endswith("\\"):  # a trailing backslash would continue the line
        raise UnsafeValue(f"a value cannot end with a backslash: {value!r}")
    if value != value.strip():
        raise UnsafeValue(f"a value cannot start or end with white space: {value!r}")
    return value


def quote_word(word: str) -> str:
    """One word for systemd's word splitting (double quotes, C-style escapes)."""
    _check(word)
    out = word.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    if out and not any(c in out for c in " \t'\"\\;") :
        return out
    return f'"{out}"'


@dataclass(frozen=True)
class Entry:
    key: str
    value: str | tuple[str, ...]  # a tuple is written as quoted words

    def render(self, dollars: bool = False) -> str:
        """dollars: the value reaches a command line, so a literal `$` is written `$$`."""
        def d(text: str) -> str:
            return text.replace("$", "$$") if dollars else text

        if isinstance(self.value, tuple):
            return f"{self.key}={' '.join(quote_word(d(w)) for w in self.value)}"
        if self.key in VERBATIM_PERCENT:
            return f"{self.key}={escape_raw(self.value).replace('%%', '%')}"
        return f"{self.key}={escape_raw(d(self.value))}"


@dataclass(frozen=True)
class Section:
    name: str
    entries: tuple[Entry, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class UnitFile:
    sections: tuple[Section, ...]
    header: str = "# Written by roost. Edit the spec and run `roost apply`, not this file."

    def render(self) -> str:
        blocks = [self.header]
        for section in self.sections:
            if not section.entries:
                continue
            on_command_line = section.name in COMMAND_LINE_SECTIONS
            lines = [f"[{section.name}]",
                     *(e.render(dollars=on_command_line or e.key.startswith("Exec")) for e in section.entries)]
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks) + "\n"


def section(name: str, *pairs: tuple[str, str | tuple[str, ...]] | None) -> Section:
    return Section(name, tuple(Entry(k, v) for p in pairs if p is not None for k, v in [p]))
