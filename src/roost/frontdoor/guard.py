"""The front door only reaches the app: Caddy forwards to an app's port only while the listener on
that port is the app's own.

Caddy proxies to 127.0.0.1:PORT. While the pod is stopped, any local user can bind that port and would
receive the app's HTTPS traffic. So each site has two forms: *open* (reverse_proxy) and *closed*
(answers 503). A site is opened only after the listener was checked (every socket listening on the
port belongs to the app's UID or its subordinate IDs: pasta or rootlessport run as the app's user) and
only while no roost verb holds the app's lock; it is closed before any roost verb stops the pod
(App.systemctl, the planner's pod restart), at boot before Caddy starts, and by the watcher
(`python -m roost.frontdoor.watch`, a root service) as soon as the listener is not the app's.
During a start-first update (frontdoor/switch.py) the open site dials the standby release NAME-next on
a loopback port of its own: then that port is the one checked, and a restart of NAME closes nothing.
See docs/security.md, "The front door", for what is left: an unplanned pod stop (a crash) is seen by
the watcher within one poll.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from roost.frontdoor.render import dial_address, render_closed, render_site, site_file, upstream
from roost.frontdoor.state import SERVICE
from roost.history import Outcome
from roost.host.runner import Host
from roost.record import AppRecord
from roost.spec.model import Spec
from roost.survivors import AppIds

LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    address: str  # hex as /proc/net/tcp{,6} write it
    port: int
    uid: int


def parse_proc_net_tcp(text: str) -> list[Listener]:
    """The listening sockets in a /proc/net/tcp or /proc/net/tcp6 table."""
    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8 or f[3] != LISTEN or ":" not in f[1]:
            continue
        addr, _, port = f[1].rpartition(":")
        try:
            out.append(Listener(addr, int(port, 16), int(f[7])))
        except ValueError:
            continue
    return out


@dataclass(frozen=True)
class Verdict:
    ok: bool
    why: str


# the addresses (as /proc/net/tcp{,6} write them) whose listener receives a connection to the dial address
CAPTURES = {
    "127.0.0.1": {"0100007F", "00000000", "00000000000000000000000000000000", "0000000000000000FFFF00000100007F"},
    "[::1]": {"00000000000000000000000001000000", "00000000000000000000000000000000"},
}


def check_listeners(listeners: list[Listener], ip: str, port: int, ids: AppIds) -> Verdict:
    """Every socket that would receive Caddy's connection to ip:port (that address, a wildcard, the
    IPv4-mapped form) must be the app's, and there must be one. A socket on another address of the
    same port (127.0.0.2) takes nothing from the app and closes nothing."""
    wanted = CAPTURES.get(ip, {"00000000", "00000000000000000000000000000000"})
    on_port = [x for x in listeners if x.port == port and (x.address in wanted or x.address == _hex4(ip))]
    if not on_port:
        return Verdict(False, f"nothing listens on port {port} (the pod is not running)")
    foreign = sorted({x.uid for x in on_port if x.uid != ids.uid and not ids._sub(x.uid)})
    if foreign:
        return Verdict(False, f"port {port} is held by UID {', '.join(map(str, foreign))}, not by the app")
    return Verdict(True, f"port {port} is the app's (UID {on_port[0].uid})")


def _hex4(ip: str) -> str:
    """An IPv4 address as /proc/net/tcp writes it (little-endian hex); '' for anything else."""
    parts = ip.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        return ""
    return "".join(f"{int(p):02X}" for p in reversed(parts))


def verify(host: Host, ip: str, port: int, ids: AppIds) -> Verdict:
    listeners = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        listeners += parse_proc_net_tcp(host.read_file(table) or "")
    return check_listeners(listeners, ip, port, ids)


@dataclass(frozen=True)
class Door:
    """One app's site in both forms, from root's applied spec and record."""

    name: str
    ip: str
    port: int
    ids: AppIds
    open_text: str
    closed_text: str
    spec: Spec | None = None  # to recognise the open form that dials the standby release
    request_path: str = ""  # where the app's own nightly update asks for its standby release (ask.py)

    @property
    def path(self) -> str:
        return site_file(self.name)

    def knows(self, current: str | None) -> bool:
        """Whether the site file is one of this door's forms (open, closed, or dialling the standby). Any
        other text (an apply whose site Caddy rejected put the previous one back) is left to the next apply."""
        return current in (self.open_text, self.closed_text) or self.standby(current) is not None

    def standby(self, current: str | None) -> tuple[str, int] | None:
        """(ip, port) the site dials when it is roost's open form pointed at the standby release of a
        start-first update (render_site with a dial); None for any other text."""
        m = STANDBY_RE.search(current or "")
        if self.spec is None or m is None or (m[1], int(m[2])) == (self.ip, self.port):
            return None
        return (m[1], int(m[2])) if current == render_site(self.spec, f"{m[1]}:{m[2]}") else None


# the standby release's upstream, as switch.next_address writes it: a loopback address and port
STANDBY_RE = re.compile(r"^\treverse_proxy (127\.0\.0\.1):([0-9]{1,5})(?: \{)?$", re.MULTILINE)


def door_of(spec: Spec, record: AppRecord) -> Door | None:
    if spec.web is None or (up := upstream(spec)) is None:
        return None
    from roost.layout import SUBID_COUNT

    start = record.subid_start
    ids = AppIds(record.uid, record.gid, start, SUBID_COUNT if start else 0)
    ip = dial_address(up).rsplit(":", 1)[0]
    from roost.layout import Layout

    return Door(spec.name, ip, up.host_port, ids, render_site(spec), render_closed(spec), spec,
                Layout(spec.name, record.home or spec.home).door_request)


def load_door(host: Host, name: str) -> Door | None:
    """The door of applied app NAME, or None (no web section, no applied spec)."""
    from roost.layout import record_path
    from roost.record import parse_record
    from roost.spec.load import parse_spec

    record_text = host.read_file(record_path(name))
    if record_text is None:  # gone meanwhile (a purge)
        return None
    record = parse_record(record_text, record_path(name))
    text = host.read_file(record.layout.applied_spec)
    if text is None:
        return None
    return door_of(parse_spec(text, name), record)


def _reload(host: Host) -> None:
    if host.run(["systemctl", "is-active", "--quiet", SERVICE], check=False).ok:
        host.run(["systemctl", "reload", SERVICE], mutates=True, check=False, timeout=120)


def set_site(host: Host, door: Door, text: str) -> bool:
    """Write the site (if it is there and differs) and reload Caddy; True if it changed. A site roost
    removed (down) is not brought back."""
    current = host.read_file(door.path)
    if current is None or current == text:
        return False
    host.write_file(door.path, text, mode=0o644, uid=0, gid=0)
    _reload(host)
    return True


def close(host: Host, name: str, own: bool = True, standby: bool = False) -> bool:
    """Close the app's site before what it dials stops (a roost verb, holding the app's lock). own:
    the release on the app's published port stops; standby: the standby release NAME-next stops.
    While the site dials the standby, a stop of the own release closes nothing, and the other way round."""
    if os.geteuid() != 0:  # the app's own nightly run: root's watcher closes the site once the port is not the app's
        return False
    door = load_door(host, name)
    if door is None:
        return False
    at_standby = door.standby(host.read_file(door.path)) is not None
    return (standby if at_standby else own) and set_site(host, door, door.closed_text)


@contextmanager
def unlocked(lock_file: str) -> Iterator[bool]:
    """Hold the app's lock, without waiting, while the site is opened: no verb can then stop the pod
    between the check and the reload. Yields False if a roost run holds it."""
    try:
        fd = os.open(lock_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


# what the app's user may ask for: its standby release on a loopback port, or its own port again
REQUEST_RE = re.compile(r"^(127\.0\.0\.1):([0-9]{1,5})\Z")


def parse_request(text: str | None) -> tuple[str, int] | None:
    """The app's request (a file its user writes: untrusted): `127.0.0.1:PORT` to be dialled
    instead of the app's own port; anything else asks for the own port."""
    m = REQUEST_RE.match((text or "").strip())
    return (m[1], int(m[2])) if m and 1 <= int(m[2]) <= 65535 else None


def parse_proc_locks(text: str, dev: tuple[int, int], inode: int) -> list[int]:
    """PIDs holding a lock on the file (dev, inode), from /proc/locks (waiters, `->`, left out)."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 6 or f[1] == "->":
            continue
        try:
            major, minor, ino = f[5].split(":")
            if (int(major, 16), int(minor, 16), int(ino)) == (*dev, inode):
                out.append(int(f[4]))
        except ValueError:
            continue
    return out


def held_by_the_app(host: Host, lock_file: str, ids: AppIds) -> bool:
    """The app's lock is held, and only by processes of the app's own user: its nightly update
    (roost restart-changed), not a root verb, which closes the site itself and must not be crossed."""
    try:
        st = os.stat(lock_file, follow_symlinks=False)
    except OSError:
        return False
    pids = parse_proc_locks(host.read_file("/proc/locks") or "", (os.major(st.st_dev), os.minor(st.st_dev)),
                            st.st_ino)
    uids = set()
    for pid in pids:
        status = host.read_file(f"/proc/{pid}/status") or ""
        uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), "")
        uids.add(int(uid) if uid.isdigit() else -1)
    return bool(uids) and uids == {ids.uid}


def follow_request(host: Host, door: Door, lock_file: str) -> tuple[Outcome, Verdict] | None:
    """While the app's own nightly update holds its lock, dial what it asks for: its standby release
    (only while every listener on that port is the app's), or its own port again (the same check).
    The app's user can point its own site at nothing but its own listeners."""
    if not door.request_path or door.spec is None or not held_by_the_app(host, lock_file, door.ids):
        return None
    current = host.read_file(door.path)
    if not door.knows(current):
        return None
    wanted = parse_request(host.read_file(door.request_path))
    if wanted is None:
        if current == door.open_text:
            return None
        verdict = verify(host, door.ip, door.port, door.ids)
        return ("opened", verdict) if verdict.ok and set_site(host, door, door.open_text) else None
    if door.standby(current) == wanted:
        return None
    verdict = verify(host, *wanted, door.ids)
    text = render_site(door.spec, f"{wanted[0]}:{wanted[1]}")
    return ("standby", verdict) if verdict.ok and set_site(host, door, text) else None


def sync(host: Host, door: Door, lock_file: str) -> tuple[Outcome, Verdict] | None:
    """One look at the app's port: close the site if the listener is not the app's; open it if it
    is and no roost verb is at work on the app. ("opened" | "closed", why) when it changed.
    While the site dials the standby release, that port must be the app's; the app's own port may be
    free meanwhile (its release restarts), and the site goes back to it only once it is the app's."""
    current = host.read_file(door.path)
    if not door.knows(current):  # forms of a spec Caddy rejected would be rejected again
        return None
    standby = door.standby(current)
    if standby is not None:
        verdict = verify(host, *standby, door.ids)
        if not verdict.ok:
            return ("closed", verdict) if set_site(host, door, door.closed_text) else None
    verdict = verify(host, door.ip, door.port, door.ids)
    if not verdict.ok:
        if standby is not None:
            return None
        return ("closed", verdict) if set_site(host, door, door.closed_text) else None
    with unlocked(lock_file) as free:
        if not free:
            return None
        verdict = verify(host, door.ip, door.port, door.ids)  # again, now that no verb can stop the pod
        if verdict.ok and set_site(host, door, door.open_text):
            return "opened", verdict
    return None
