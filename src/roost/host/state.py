"""Everything `apply.prepare` reads of the host, gathered in one place through the one `Host`.

The checks (plan/checks.py) and the planner are pure functions of what is read here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from roost.errors import UsageError
from roost.frontdoor.state import FrontFacts, gather_front
from roost.host.facts import AppFacts, SystemFacts, concurrently, gather_app, gather_system
from roost.host.runner import AppUser, FileStat, Host
from roost.host.safefs import UnsafePath
from roost.pgmajor import pg_version_files
from roost.render.desired import Desired, slice_dropin
from roost.spec.model import Spec


@dataclass(frozen=True)
class HomeFacts:
    """The app's home and the host paths its containers mount, as they are now."""

    link: UnsafePath | None = None  # a link on the home's own path: nothing below it was read
    home: FileStat | None = None  # lstat of the home (None: not there)
    entries: list[tuple[str, FileStat]] | None = None  # its listing, when it is a folder
    parent: FileStat | None = None  # lstat of the folder it is in
    sources: dict[str, FileStat | None] = field(default_factory=dict)  # lstat of each volume source inside the home
    unsafe: dict[str, UnsafePath] = field(default_factory=dict)  # volume source -> why its path is refused


@dataclass(frozen=True)
class HostState:
    system: SystemFacts
    home: HomeFacts
    app: AppFacts
    front: FrontFacts


def gather_paths(host: Host, spec: Spec) -> HomeFacts:
    """The volume sources: inside the home, its lstat (the safe walk refuses links the app user
    could plant on the way); outside it, whether any link is on the path at all."""
    sources: dict[str, FileStat | None] = {}
    unsafe: dict[str, UnsafePath] = {}
    for path in sorted({spec.host_path(v.source) for c in spec.containers.values() for v in c.mounts}):
        try:
            if path.startswith(spec.home + "/"):
                sources[path] = host.stat(path)
            else:
                host.check_no_links(path)
        except UnsafePath as e:
            unsafe[path] = e
    return HomeFacts(sources=sources, unsafe=unsafe)


def gather_home(host: Host, spec: Spec) -> HomeFacts:
    try:
        host.check_no_links(spec.home)  # the home rules read its spelling: it must be where it says
    except UnsafePath as e:
        return HomeFacts(link=e)
    paths = gather_paths(host, spec)
    try:
        home = host.stat(spec.home)
        entries = host.list_dir(spec.home) if home is not None and home.is_dir else None
        parent = host.stat(spec.home.rsplit("/", 1)[0] or "/")
    except UnsafePath as e:  # only when a link appeared since the check above
        raise UsageError(e.message, hint=e.hint) from None
    return HomeFacts(None, home, entries, parent, paths.sources, paths.unsafe)


def gather_state(host: Host, spec: Spec,
                 between: Callable[[SystemFacts, HomeFacts], Desired]) -> tuple[HostState, Desired]:
    """Read the host once for `spec`. `between` runs on the system and home facts before the app's
    are read: the checks that must pass first (the home is where it says), and the render that
    names the paths to read. The app's reads and the front door's are independent: read together."""
    system = gather_system(host)
    home = gather_home(host, spec)
    desired = between(system, home)
    identity = desired.identity
    user = AppUser(spec.name, identity.uid, spec.home) if spec.name in system.users else None
    parent = spec.home.rsplit("/", 1)[0] or "/"

    def app() -> AppFacts:
        return gather_app(
            host, desired.layout, user,
            dirs=[d.path for d in (*desired.state_dirs, *desired.dirs)] + [parent],
            files=[f.path for f in (*desired.state_files, *desired.files)] + list(pg_version_files(spec).values())
            + [desired.layout.legacy_record, slice_dropin(identity.uid)],
            secret_names=sorted(spec.generated_secrets()),
            podman_secrets=sorted(w.name for w in desired.secret_envs),
            units=list(desired.units),
            notify=spec.notify is not None,
            known={spec.home: home.home, parent: home.parent, **home.sources},
            texts=system.record_texts,
        )

    facts, front = concurrently(app, lambda: gather_front(host, spec.name, wanted=spec.web is not None))
    return HostState(system, home, facts, front), desired
