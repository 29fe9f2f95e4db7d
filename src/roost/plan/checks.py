"""The refusals of `apply.prepare`: pure functions of the spec and the facts gathered in HostState
(host/state.py), so each is a table-driven unit test. Each raises UsageError (exit 2, nothing changed)."""

from __future__ import annotations

import posixpath

from roost.errors import UsageError
from roost.host.facts import AppFacts, SystemFacts
from roost.host.safefs import UnsafePath
from roost.host.state import HomeFacts
from roost.pgmajor import guard
from roost.spec.model import Publish, Spec, parse_publish


def check_before_render(spec: Spec, system: SystemFacts, uid: int, home: HomeFacts) -> None:
    """What must hold before the app's own paths are read: no collision with another app, and
    a home that is where it says, with mounts that lead where they say."""
    check_conflicts(spec, system, uid)
    if home.link is not None:
        raise UsageError(f"app.home: {home.link.message}", hint="write the folder's real path (no symbolic link)")
    check_host_paths(spec, home)
    check_home(spec, system, uid, home)


def check_host_paths(spec: Spec, paths: HomeFacts) -> None:
    """What a container mounts must be what the spec names: a host path outside the home
    passes through no link at all; one inside passes through none the app user could plant
    (the safe walk refuses those). Checked at plan time and again just before units start."""
    for cname, c in sorted(spec.containers.items()):
        for vol in c.mounts:
            path = spec.host_path(vol.source)
            problem = paths.unsafe.get(path)
            if problem is None and (st := paths.sources.get(path)) is not None and st.is_link:
                problem = UnsafePath(path, "is a symbolic link")
            if problem is not None:
                raise UsageError(f"containers.{cname}.volumes: {problem.message}", hint=problem.hint)


def check_pg(spec: Spec, app: AppFacts) -> None:
    """A database image that would open a data directory of another major (pgmajor.guard)."""
    guard(spec, {p: c for p, (c, _) in app.files.items()})


def check_conflicts(spec: Spec, system: SystemFacts, identity_uid: int) -> None:
    """Refuse what would collide with another app or a running service."""
    mine = system.apps.get(spec.name)
    for other, record in system.apps.items():
        if other == spec.name:
            continue
        if record.uid == identity_uid:
            raise UsageError(f"UID {identity_uid} is already used by roost app {other}", hint="pick another app.uid")
        theirs = {(q.host_port, q.proto) for q in map(parse_publish, record.publish)}
        for p in spec.ports:
            if (p.host_port, p.proto) in theirs:
                raise UsageError(f"{_where(spec, p)}: host port {p.host_port} is already published by roost app {other}",
                                 hint="choose another host port")
        claimed = set(record.domains or ()) & set(spec.web.domains if spec.web else ())
        if claimed:
            raise UsageError(f"web.domains: {', '.join(sorted(claimed))} is already served by roost app {other}",
                             hint=f"a domain has one app: pick another, or take it out of {other}'s spec first")
    my_ports = set(mine.publish) if mine else set()
    for p in spec.ports:
        if str(p) in my_ports:
            continue  # ours, from the previous apply
        for listener in system.listeners:
            same_proto = listener.proto.startswith(p.proto)
            wildcard = listener.address in ("0.0.0.0", "::", "*") or p.ip in ("0.0.0.0", "[::]")
            if same_proto and listener.port == p.host_port and (wildcard or listener.address == p.ip.strip("[]")):
                raise UsageError(
                    f"{_where(spec, p)}: {p.ip}:{p.host_port}/{p.proto} is already taken by another program on this host",
                    hint=f"see `ss -ltnp 'sport = :{p.host_port}'` and choose a free port",
                )


def _where(spec: Spec, p: Publish) -> str:
    """The spec key that publishes p."""
    owner = spec.publisher(p)
    return "pod.publish" if owner is None else f"containers.{owner}.publish"


def _within(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/")


def check_home(spec: Spec, system: SystemFacts, uid: int, facts: HomeFacts) -> None:
    """The app's home becomes its user's: it must be a folder of its own (exit 2, nothing changed).
    `facts`: the home's lstat and listing and its parent's lstat as they are now (None: not there)."""
    home, entries, parent = facts.home, facts.entries, facts.parent
    up = posixpath.dirname(spec.home)
    if parent is not None and (parent.uid != 0 or parent.mode & 0o022 or not parent.is_dir):
        raise UsageError(f"app.home: {spec.home} would be inside {up}, which " +
                         ("is not a directory" if not parent.is_dir else f"belongs to UID {parent.uid}" if parent.uid
                          else "others can write") + ": whoever controls it could move the app's home",
                         hint=f"choose a home whose parent only root can change, e.g. /srv/roost/{spec.name}")
    for other, record in system.apps.items():
        theirs = record.home
        if other != spec.name and (_within(spec.home, theirs) or _within(theirs, spec.home)):
            raise UsageError(f"app.home: {spec.home} overlaps the home of roost app {other} ({theirs})",
                             hint="give each app a folder of its own, e.g. /srv/roost/NAME")
    if home is None:
        return
    if home.is_link or not home.is_dir:
        raise UsageError(f"app.home: {spec.home} exists and is not a directory" + (" (a symbolic link)" if home.is_link else ""),
                         hint="choose another app.home, or remove what is there")
    empty_roots = home.uid == 0 and not entries
    if home.uid != uid and not empty_roots:
        raise UsageError(f"app.home: {spec.home} already exists, belongs to UID {home.uid} and is not empty; roost "
                         f"would hand it to the app's user", hint="choose a new folder for app.home (roost creates it)")
