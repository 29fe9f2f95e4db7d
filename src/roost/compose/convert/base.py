"""The converter's shared state; each concern (services, network, volumes, environment, lifecycle) is a mixin over it."""

from __future__ import annotations

from roost.compose.convert.draft import Options
from roost.compose.load import YMap
from roost.compose.report import Report
from roost.spec.model import check_text


class ConverterBase:
    """The state every part of the conversion shares, and `add` (one finding in the report)."""

    def __init__(self, tree: YMap, source: str, opts: Options, report: Report) -> None:
        self.tree = tree
        self.source = source
        self.opts = opts
        self.report = report
        self.env_lines: dict[tuple[str, str], int] = {}
        self.hosts: dict[str, set[str]] = {}  # service -> names other services use to reach it
        self.volume_users: dict[str, list[str]] = {}  # host dir -> containers mounting it
        self.no_value: dict[tuple[int, str], list[str]] = {}
        self.env_file_values: set[str] = set()  # every value the services' env files hold
        self.unread_env_files: list[tuple[str, int]] = []  # (line, KEY) -> services where it had no value
        self.shares: dict[str, str] = {}  # service -> the service whose namespace it joins (network_mode)
        self.from_shell: list[tuple[str, int]] = []  # (KEY, line): a bare `- KEY` that took the shell's value

    def add(self, kind: str, line: int | None, where: str, did: str, todo: str = "", file: str | None = None) -> None:
        self.report.add(kind, line, where, did, todo, file)  # type: ignore[arg-type]


def check_path(path: str) -> bool:
    try:
        check_text(path)
    except ValueError:
        return False
    return ":" not in path and "," not in path


def bad_text(value: str) -> bool:
    try:
        check_text(value)
    except ValueError:
        return True
    return False
