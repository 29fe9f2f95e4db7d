"""A doctor check's result: what was found, what a person should do, and what `--fix` may do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from roost.host.runner import Host

Status = Literal["ok", "warn", "fail"]
OK: Status = "ok"
WARN: Status = "warn"
FAIL: Status = "fail"


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None  # what a person should do
    repair: list[Callable[[Host], None]] = field(default_factory=list)  # what --fix does

    def to_dict(self) -> dict:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix,
                "fixable": bool(self.repair)}


def command_repair(argv: list[str], **kw) -> Callable[[Host], None]:
    def repair(host: Host) -> None:
        host.run(argv, mutates=True, **kw)

    repair.__doc__ = " ".join(argv)
    return repair
