"""Who the app runs as: its UID/GID and subordinate ID range, kept if they exist, else allocated.

Pure functions over SystemFacts, so every rule is a table-driven unit test.
"""

from __future__ import annotations

from roost.errors import UsageError
from roost.host.facts import SystemFacts
from roost.layout import SUBID_COUNT
from roost.render.desired import Identity
from roost.spec.model import MAX_APP_ID, MIN_APP_ID, Spec

SUBID_MAX = 2**32 - 1


def resolve(spec: Spec, system: SystemFacts) -> Identity:
    name = spec.name
    user = system.users.get(name)
    other_apps = {n: a for n, a in system.apps.items() if n != name}
    ours = name in system.apps  # root's record claims the user and group as roost's
    if user is not None and not ours:
        raise UsageError(f"user {name} already exists (UID {user.uid}) and roost did not create it",
                         hint="pick another app name: roost never takes over an existing account")
    group_gid = system.groups.get(name)
    if group_gid is not None and not ours:
        raise UsageError(f"group {name} already exists (GID {group_gid}) and roost did not create it: the app "
                         "would join it and get its rights", hint="pick another app name")
    if group_gid is not None and group_gid < MIN_APP_ID:
        raise UsageError(f"group {name} has GID {group_gid}, a system group (below {MIN_APP_ID})",
                         hint="pick another app name")
    if user is not None:
        if spec.app.uid is not None and spec.app.uid != user.uid:
            raise UsageError(
                f"user {name} already exists with UID {user.uid}, but the spec asks for app.uid = {spec.app.uid}",
                hint=f"set app.uid = {user.uid} in the spec, or pick another app name",
            )
        if user.uid < MIN_APP_ID:
            raise UsageError(f"{name} is a system account (UID {user.uid})", hint="pick another app name")
        uid, gid = user.uid, user.gid
    else:
        taken_uids = {u.uid for u in system.users.values()} | {a.uid for a in other_apps.values()}
        taken_gids = set(system.groups.values()) | {a.gid for a in other_apps.values()}
        # a purged app's IDs: a process that outlived it may still hold them. Only a spec that
        # names the UID (or GID) gets it back, with that UID's own range: the operator's explicit choice
        # (the source document fixes both). Any other purged range is never handed out again.
        purged_ids = {i for p in system.purged for i in (p.uid, p.gid)}
        if spec.app.uid is not None:
            uid = spec.app.uid
            if uid in taken_uids:
                owner = next((u.name for u in system.users.values() if u.uid == uid), None) or next(
                    (n for n, a in other_apps.items() if a.uid == uid), "?")
                raise UsageError(f"app.uid {uid} is already used by {owner}", hint="choose a free UID or leave app.uid out")
        else:
            blocked = taken_uids | taken_gids | purged_ids
            free = next((i for i in range(MIN_APP_ID, MAX_APP_ID) if i not in blocked), None)
            if free is None:
                raise UsageError("no free UID left in 2000-59999")
            uid = free
        gid = spec.app.gid if spec.app.gid is not None else uid
        if group_gid is not None:
            gid = group_gid if spec.app.gid is None else gid
            if group_gid != gid:
                raise UsageError(f"group {name} exists with GID {group_gid}, the spec asks for {gid}",
                                 hint=f"set app.gid = {group_gid}")
        elif gid in taken_gids:
            raise UsageError(f"GID {gid} is already used", hint="set app.gid to a free GID")
    return Identity(uid, gid, _subid_start(name, uid, system, named=spec.app.uid is not None))


def _subid_start(name: str, uid: int, system: SystemFacts, *, named: bool = False) -> int:
    own = [r for r in system.subuids if r.owner == name and r.count >= SUBID_COUNT]
    own_g = [r for r in system.subgids if r.owner == name and r.count >= SUBID_COUNT]
    if own and own_g and own[0].start == own_g[0].start:
        return own[0].start
    if own:  # keep what exists; the gid range is added at the same place
        return own[0].start
    ranges = [r for r in (*system.subuids, *system.subgids) if r.owner != name]
    real_ids = {u.uid for u in system.users.values()} | set(system.groups.values())
    recorded = [a.subid_start for n, a in system.apps.items() if n != name]
    purged = [p for p in system.purged if p.subid_start and not (named and p.uid == uid)]

    def free(start: int) -> bool:
        if start + SUBID_COUNT > SUBID_MAX:
            return False
        if any(r.overlaps(start, SUBID_COUNT) for r in ranges):
            return False
        if any(s < start + SUBID_COUNT and start < s + SUBID_COUNT for s in recorded):
            return False
        if any(p.holds_range(start, SUBID_COUNT) for p in purged):
            return False
        return not any(start <= i < start + SUBID_COUNT for i in real_ids)

    # The source document's scheme: UID 2000 owns 200000000-200065535. Easy to read in /etc/subuid.
    preferred = uid * 100_000
    if free(preferred):
        return preferred
    candidate = max([r.end for r in ranges] + [s + SUBID_COUNT for s in recorded]
                    + [p.subid_start + p.subid_count for p in purged] + [100_000])
    candidate = -(-candidate // SUBID_COUNT) * SUBID_COUNT
    while not free(candidate):
        candidate += SUBID_COUNT
        if candidate > SUBID_MAX:
            raise UsageError("no free subordinate ID range of 65536 left")
    return candidate
