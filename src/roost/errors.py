"""Errors that reach the user: each says where, what, and what to do next."""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_FAILURE = 1
EXIT_USAGE = 2  # bad input: nothing was changed on the host


class RoostError(Exception):
    """A failure roost explains and turns into an exit code (never a traceback)."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(RoostError):
    """Bad input from the user. Raised before anything on the host changes."""

    exit_code = EXIT_USAGE


@dataclass
class Problem:
    """One thing wrong with a spec, located as precisely as we can."""

    where: str  # key path, e.g. "containers.database.image"
    message: str
    line: int | None = None


@dataclass
class SpecError(UsageError):
    path: str
    problems: list[Problem] = field(default_factory=list)
    hint: str | None = "fix the spec and run `roost plan SPEC` again; docs/spec.md lists every key"

    def __post_init__(self) -> None:
        RoostError.__init__(self, self.render(), self.hint)

    def render(self) -> str:
        lines = [f"{self.path}: {len(self.problems)} problem(s) in the spec"]
        for p in self.problems:
            loc = f"{self.path}:{p.line}" if p.line else self.path
            lines.append(f"  {loc}: {p.where}: {p.message}")
        return "\n".join(lines)
