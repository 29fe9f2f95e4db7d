"""The step a `roost db upgrade` reached, kept where only root writes (Layout.db_upgrade_marker).

An upgrade stopped half-way (Ctrl-C, a killed terminal, a power cut) leaves the app between
two majors. The marker lets the next `roost db upgrade` finish or undo it, and makes the
verbs that would build on a half-moved data directory (backup, restore, update) refuse.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from roost import faults
from roost.errors import UsageError
from roost.host.runner import Host
from roost.layout import Layout

if TYPE_CHECKING:
    from roost.app import App

# in order; an upgrade interrupted before "restored" is undone, after it finished
STEPS = ("started", "dumped", "stopped", "moved", "spec-written", "restored")


@dataclass
class Marker:
    container: str
    from_major: int
    to: int
    stamp: str
    step: str
    volume: str  # the data volume's host directory
    kept: str  # where the old data directory goes
    dump: str
    spec_path: str
    old_spec: str  # the spec file's text before the upgrade (root-owned copy: the undo trusts it)
    new_image: str
    rows: dict[str, int]  # row counts before, to verify against after

    def reached(self, step: str) -> bool:
        return STEPS.index(self.step) >= STEPS.index(step)


def read(host: Host, layout: Layout) -> Marker | None:
    try:
        text = host.read_file(layout.db_upgrade_marker)
    except OSError:  # the app user's own timer cannot look into root's state: nothing to say
        return None
    if not text:
        return None
    try:
        return Marker(**json.loads(text))
    except (TypeError, ValueError) as e:
        raise UsageError(f"{layout.db_upgrade_marker}: unreadable ({e})",
                         hint="look at it, then remove it if no db upgrade is under way") from None


def write(host: Host, layout: Layout, marker: Marker) -> None:
    if not host.exists(layout.root_dir):  # apply makes it; an app applied by an older roost may lack it
        host.make_dir(layout.root_dir, mode=0o755, uid=0, gid=0)
    host.write_file(layout.db_upgrade_marker, json.dumps(asdict(marker), indent=2) + "\n", mode=0o600, uid=0, gid=0)
    faults.reached(f"db-upgrade.{marker.step}")  # the step is on record: the e2e suite cuts here


def step(host: Host, layout: Layout, marker: Marker, reached: str) -> None:
    marker.step = reached
    write(host, layout, marker)


def clear(host: Host, layout: Layout) -> None:
    host.remove_file(layout.db_upgrade_marker)


def refuse_if_interrupted(app: App) -> None:
    refuse_if_pending(app.host, app.layout)


def refuse_if_pending(host: Host, layout: Layout) -> None:
    """Refuse (exit 2) while a db upgrade of the app waits to be finished or undone."""
    m = read(host, layout)
    if m is not None:
        raise UsageError(
            f"{layout.db_upgrade_marker}: a db upgrade of {layout.name} ({m.container}: PostgreSQL "
            f"{m.from_major} -> {m.to}) stopped at step '{m.step}'",
            hint=f"run `roost db upgrade {layout.name} {m.container} --to {m.to}` to finish it, "
                 f"or add --undo to go back to PostgreSQL {m.from_major}")
