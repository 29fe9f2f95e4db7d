"""IDs of purged apps, never handed to a new app by default.

A process can outlive its user (started outside the app's cgroup, or under one of its subordinate
IDs); if the next app got the same UID or range, that process would own the new app's files and
secrets. The purge kills every such process, and this root-owned list is the second wall: the
allocation in plan/identity.py skips what is here unless the spec asks for that UID by number.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from roost.layout import TOMBSTONE_FILE


@dataclass(frozen=True)
class Purged:
    name: str
    uid: int
    gid: int
    subid_start: int  # 0: the app had no recorded range
    subid_count: int
    when: str = ""

    def holds_range(self, start: int, count: int) -> bool:
        return bool(self.subid_start) and self.subid_start < start + count and start < self.subid_start + self.subid_count


def parse_tombstones(text: str | None) -> tuple[Purged, ...]:
    """The file's entries; one that is not what roost writes is skipped (root's own file, but a
    broken line must not make every apply fail)."""
    if not text:
        return ()
    try:
        data = json.loads(text)
    except ValueError:
        return ()
    out = []
    for item in data if isinstance(data, list) else []:
        try:
            p = Purged(str(item["name"]), int(item["uid"]), int(item["gid"]), int(item.get("subid_start") or 0),
                       int(item.get("subid_count") or 0), str(item.get("when", "")))
        except (KeyError, TypeError, ValueError):
            continue
        out.append(p)
    return tuple(out)


def with_entry(text: str | None, entry: Purged) -> str:
    """The file with `entry` added (once: a purge run again does not repeat it)."""
    entries = [p for p in parse_tombstones(text) if (p.uid, p.subid_start) != (entry.uid, entry.subid_start)]
    if not entry.when:
        entry = Purged(**{**asdict(entry), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return json.dumps([asdict(p) for p in [*entries, entry]], indent=1) + "\n"


def read_tombstones(host) -> tuple[Purged, ...]:
    return parse_tombstones(host.read_file(TOMBSTONE_FILE))
