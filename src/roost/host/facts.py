"""Read-only snapshot of the host, gathered before planning. Nothing here mutates."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from roost.host import parse
from roost.host.parse import ImageInfo, PasswdEntry, SubRange, UnitState
from roost.host.runner import AppUser, FileStat, Host
from roost.layout import APPS_DIR, LEGACY_REGISTRY_DIR, Layout, legacy_record_path, record_path
from roost.notify.urls import notify_watch_active
from roost.record import AppRecord, parse_record
from roost.tombstone import Purged, read_tombstones
from roost.units import TIMERS

# what rootless podman needs beyond podman itself: binary -> package (apt-get, dnf)
TOOLS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "podman": (("/usr/bin/podman",), "podman", "podman"),
    "pasta or slirp4netns": (("/usr/bin/pasta", "/usr/bin/slirp4netns"), "passt", "passt"),
    "newuidmap": (("/usr/bin/newuidmap",), "uidmap", "shadow-utils"),
    "catatonit": (("/usr/libexec/podman/catatonit", "/usr/bin/catatonit", "/usr/libexec/catatonit/catatonit"),
                  "catatonit", "catatonit"),
}



def concurrently(*reads: Callable[[], Any]) -> list[Any]:
    """Run independent read-only host calls at the same time; results in the given order.
    Each rootless podman or runuser call spends most of its time starting up, so a handful
    of them together take about as long as the slowest one (bench/: `roost plan` facts)."""
    if len(reads) < 2:
        return [r() for r in reads]
    with ThreadPoolExecutor(max_workers=len(reads)) as pool:
        futures = [pool.submit(r) for r in reads]
    return [f.result() for f in futures]


@dataclass(frozen=True)
class SystemFacts:
    package_manager: str | None
    missing_packages: tuple[str, ...]
    podman_version: tuple[int, ...] | None
    users: dict[str, PasswdEntry]
    groups: dict[str, int]
    subuids: tuple[SubRange, ...]
    subgids: tuple[SubRange, ...]
    listeners: tuple[parse.Listener, ...]
    apps: dict[str, AppRecord]  # every app roost applied
    linger: frozenset[str]
    purged: tuple[Purged, ...] = ()  # IDs of purged apps: not handed out again by default
    record_texts: dict[str, str] = field(default_factory=dict)  # path -> text of each record in `apps`


@dataclass(frozen=True)
class Pending:
    """Work an interrupted apply left: redone by the next one."""

    daemon_reload: bool = False
    restart: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> Pending:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(bool(data.get("daemon_reload")), tuple(data.get("restart", ())))
        except (ValueError, AttributeError):
            return cls(True, ())

    def dump(self) -> str:
        return json.dumps({"daemon_reload": self.daemon_reload, "restart": list(self.restart)}) + "\n"


@dataclass(frozen=True)
class AppFacts:
    dirs: dict[str, FileStat | None] = field(default_factory=dict)
    files: dict[str, tuple[str | None, FileStat | None]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # generated secret values on disk
    podman_secrets: frozenset[str] = frozenset()
    secret_digests: dict[str, str] = field(default_factory=dict)
    manager_running: bool = False
    units: dict[str, UnitState] = field(default_factory=dict)
    images: tuple[ImageInfo, ...] = ()
    enabled_timers: frozenset[str] = frozenset()
    pending: Pending = Pending()
    notify_active: bool = False  # the system unit roost-notify@NAME.path (only looked at with [notify])


def user_manager_running(host: Host, uid: int) -> bool:
    """The user's systemd instance runs and its bus is there: `systemctl --user` will work."""
    return host.exists(f"/run/user/{uid}/bus") and host.run(
        ["systemctl", "is-active", "--quiet", f"user@{uid}.service"], check=False).ok


def gather_system(host: Host) -> SystemFacts:
    manager = next((m for m in ("apt-get", "dnf") if host.exists(f"/usr/bin/{m}")), None)
    found = {tool: any(host.exists(p) for p in paths) for tool, (paths, _, _) in TOOLS.items()}
    missing = [dnf_pkg if manager == "dnf" else apt_pkg
               for tool, (_, apt_pkg, dnf_pkg) in TOOLS.items() if not found[tool]]
    has_podman = found["podman"]
    podman_out, (apps, texts), linger_dir, ss = concurrently(
        lambda: host.run(["podman", "--version"], check=False).stdout if has_podman else None,
        lambda: _records(host),
        lambda: host.list_dir("/var/lib/systemd/linger") or [],
        lambda: host.run(["ss", "-Hltnu"], check=False),
    )
    version = parse.parse_podman_version(podman_out) if podman_out is not None else None
    return SystemFacts(
        package_manager=manager,
        missing_packages=tuple(missing),
        podman_version=version,
        users=parse.parse_passwd(host.read_file("/etc/passwd") or ""),
        groups=parse.parse_group(host.read_file("/etc/group") or ""),
        subuids=tuple(parse.parse_subid(host.read_file("/etc/subuid") or "")),
        subgids=tuple(parse.parse_subid(host.read_file("/etc/subgid") or "")),
        listeners=tuple(parse.parse_ss(ss.stdout)),
        apps=apps,
        linger=frozenset(name for name, _ in linger_dir),
        purged=read_tombstones(host),
        record_texts=texts,
    )


def _records(host: Host) -> tuple[dict[str, AppRecord], dict[str, str]]:
    """Every app roost applied: name -> record (root's own files; the pre-0.2 place too), and path -> text."""
    paths = [record_path(n) for n, st in host.list_dir(APPS_DIR) or [] if st.is_dir]
    paths += [legacy_record_path(n.removesuffix(".json")) for n, st in host.list_dir(LEGACY_REGISTRY_DIR) or []
              if n.endswith(".json") and st.is_file]
    apps: dict[str, AppRecord] = {}
    texts: dict[str, str] = {}
    for path in paths:
        # a broken record stops the plan: skipping it would let another app take its UID or home
        text = host.read_file(path)
        if text is None:
            continue  # a folder an interrupted apply made before writing the record
        record = parse_record(text, path)
        apps.setdefault(record.name, record)
        texts[path] = text
    return apps, texts


def _legacy(layout: Layout, name: str) -> str:
    """Where roost < 0.2 kept pending restarts and secret digests (in the home)."""
    return posixpath.join(layout.state_dir, name)


def gather_app(host: Host, layout: Layout, user: AppUser | None, dirs: list[str], files: list[str],
               secret_names: list[str], units: list[str], notify: bool = False,
               known: dict[str, FileStat | None] | None = None, texts: dict[str, str] | None = None,
               podman_secrets: list[str] | None = None) -> AppFacts:
    """Facts of one app. `user` is None while the app user does not exist yet. `secret_names`: the
    generated secrets (files); `podman_secrets`: the podman secrets the units use. `notify`: the spec
    has [notify], so whether the system unit watching its spool runs is asked too. `known`: lstats
    of dirs, `texts` of files, read just before (the home, its parent, volume sources; records), not read again."""
    known, texts = known or {}, texts or {}
    dir_stats = {d: known[d] if d in known else host.stat(d) for d in dirs}
    file_facts = {f: (texts[f] if f in texts else host.read_file(f), host.stat(f)) for f in files}
    secrets = {}
    for name in secret_names:
        value = host.read_file(layout.secret_file(name))
        if value:
            secrets[name] = value.strip()
    digests: dict[str, str] = {}
    try:
        text = host.read_file(layout.secret_digests_file)
        if text is None and user is not None:  # moved from the home; only ever causes a re-create
            text = host.read_file(_legacy(layout, "secret-digests.json"))
        digests = json.loads(text or "{}")
        digests = {str(k): str(v) for k, v in digests.items()} if isinstance(digests, dict) else {}
    except (ValueError, AttributeError):
        digests = {}
    pending = Pending.parse(host.read_file(layout.pending_file))
    notify_active = notify and notify_watch_active(host, layout.name)
    if user is None or not host.exists(f"/run/user/{user.uid}/bus"):
        # no user yet, or no user manager: nothing to ask it (nor podman)
        return AppFacts(dir_stats, file_facts, secrets, frozenset(), digests, pending=pending,
                        notify_active=notify_active)
    # the bus is there: whether the manager really runs is asked beside the reads, not before them (their answers are
    # dropped when it does not); one `show` answers for the units and for the timers' UnitFileState
    running, show, psecrets, images = concurrently(
        lambda: host.run(["systemctl", "is-active", "--quiet", f"user@{user.uid}.service"], check=False).ok,
        lambda: host.run(["systemctl", "--user", "show", "-p", ",".join(parse.SHOW_PROPS), "--", *units, *TIMERS],
                         user=user, check=False),
        # only the podman secrets the units use are looked up (none: no call). `inspect` prints those
        # found in the order asked; `ls` lists in a random order, and the same answer twice is what
        # lets the converged cache recognise a converged host (roost/converged.py)
        lambda: host.run(["podman", "secret", "inspect", "--format", "{{.Spec.Name}}", "--", *podman_secrets],
                         user=user, check=False)
        if podman_secrets else None,
        lambda: host.run(["podman", "images", "--format", "json"], user=user, check=False),
    )
    if not running:
        return AppFacts(dir_stats, file_facts, secrets, frozenset(), digests, pending=pending,
                        notify_active=notify_active)
    unit_states = parse.parse_systemctl_show(show.stdout)
    return AppFacts(
        dirs=dir_stats,
        files=file_facts,
        secrets=secrets,
        podman_secrets=frozenset(parse.parse_lines(psecrets.stdout)) if psecrets else frozenset(),
        secret_digests=digests,
        manager_running=True,
        units=unit_states,
        images=tuple(parse.parse_images(images.stdout)) if images.ok else (),
        enabled_timers=frozenset(t for t in TIMERS if t in unit_states and unit_states[t].file_state == "enabled"),
        pending=pending,
        notify_active=notify_active,
    )


@dataclass(frozen=True)
class RunningImage:
    image: str  # the container's image reference in the spec
    id: str
    digest: str  # "" when podman does not know it


def images_json(images: dict[str, RunningImage]) -> dict[str, dict[str, str]]:
    """As history entries and backup manifests keep them: container -> {image, id, digest}."""
    return {c: asdict(i) for c, i in images.items()}


def running_images(host: Host, user: AppUser, app: str, images: dict[str, str]) -> dict[str, RunningImage]:
    """container -> the image the app's container runs now. `images`: container -> image reference, from the spec."""
    ps, listing = concurrently(
        lambda: host.run(["podman", "ps", "-a", "--format", "json"], user=user, check=False),
        lambda: host.run(["podman", "images", "--format", "json"], user=user, check=False),
    )
    digests = {i.id: i.digest for i in parse.parse_images(listing.stdout)} if listing.ok else {}
    out = {}
    for c in parse.parse_containers(ps.stdout) if ps.ok else []:
        name = c["labels"].get("io.roost.container")
        if c["labels"].get("io.roost.app") == app and name in images:
            out[name] = RunningImage(images[name], c["image_id"], digests.get(c["image_id"], ""))
    return out
