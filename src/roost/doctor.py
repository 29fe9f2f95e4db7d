"""Checks for the quiet ways rootless Podman under systemd goes wrong, each with its fix.

A check reads facts through the Host seam and returns ok / warn / fail. Where the fix is
safe to make unattended (linger, file modes, the boot target), it carries the argv or file
operation that `roost doctor --fix` runs after showing it.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import stat
from collections.abc import Callable

import roost.units as units
from roost.checks import FAIL, OK, WARN, Check, command_repair
from roost.errors import RoostError
from roost.host.facts import TOOLS, gather_system, user_manager_running
from roost.host.runner import AppUser, Host
from roost.layout import SUBID_COUNT
from roost.output import plain
from roost.record import AppRecord
from roost.spec.model import parse_publish

QUADLET = ("/usr/libexec/podman/quadlet", "/usr/lib/podman/quadlet")
CONTROLLERS = ("cpu", "memory", "pids")


def check_podman(host: Host, system) -> list[Check]:
    out = []
    v = system.podman_version
    if v is None:
        out.append(Check("podman", FAIL, "podman is not installed", "roost apply installs it (apt-get/dnf install podman)"))
    elif v[:2] < (5, 0):
        out.append(Check("podman", FAIL, f"podman {'.'.join(map(str, v))} is older than 5.0",
                         "upgrade to a release with podman >= 5.0 (Debian 13, Ubuntu 24.10, Fedora 40)"))
    else:
        out.append(Check("podman", OK, f"podman {'.'.join(map(str, v))}"))
    if any(host.exists(p) for p in QUADLET):
        out.append(Check("quadlet", OK, "the Quadlet generator is installed"))
    else:
        out.append(Check("quadlet", FAIL, "no Quadlet generator found", "install podman >= 4.4 from your distribution"))
    for label in ("pasta or slirp4netns", "catatonit"):  # the helpers apply installs, where it looks for them
        paths, pkg, _ = TOOLS[label]
        if any(host.exists(p) for p in paths):
            out.append(Check(label, OK, "present"))
        else:
            out.append(Check(label, FAIL, "missing: rootless containers cannot network/init without it",
                             f"apt-get install {pkg} (roost apply installs it)"))
    return out


# What an app's private network ([network]) needs: netavark makes it, aardvark-dns answers names on it,
# and netavark drives the firewall through nft (or iptables) inside the user's rootless namespace.
NETWORK_TOOLS = (
    ("netavark", ("/usr/libexec/podman/netavark", "/usr/lib/podman/netavark"), "netavark"),
    ("aardvark-dns", ("/usr/libexec/podman/aardvark-dns", "/usr/lib/podman/aardvark-dns"), "aardvark-dns"),
    ("nft or iptables", ("/usr/sbin/nft", "/sbin/nft", "/usr/sbin/iptables", "/sbin/iptables"), "nftables"),
)


def check_app_networks(host: Host, apps: dict[str, AppRecord]) -> list[Check]:
    """Only apps with [network] need these: a FAIL then, a WARN when no app uses one yet."""
    used = [a.name for a in apps.values() if a.network]
    out = []
    for label, paths, pkg in NETWORK_TOOLS:
        if any(host.exists(p) for p in paths):
            out.append(Check(label, OK, "present (app networks)"))
        else:
            why = f"missing: the networks of {', '.join(used)} cannot start" if used else \
                "missing: specs with [network] would not start"
            out.append(Check(label, FAIL if used else WARN, why, f"apt-get install {pkg}"))
    return out


def check_idmap_helpers(host: Host) -> list[Check]:
    out = []
    for tool in ("/usr/bin/newuidmap", "/usr/bin/newgidmap"):
        st = host.stat(tool)
        name = os.path.basename(tool)
        if st is None:
            out.append(Check(name, FAIL, "missing", "apt-get install uidmap"))
            continue
        has_cap = bool(host.run(["getfattr", "-n", "security.capability", "--absolute-names", tool], check=False).ok)
        if st.mode & stat.S_ISUID or has_cap:
            out.append(Check(name, OK, "setuid" if st.mode & stat.S_ISUID else "has file capabilities"))
        else:
            out.append(Check(name, FAIL, f"{tool} is neither setuid nor has capabilities: user namespaces get one ID",
                             f"chmod u+s {tool} (or reinstall uidmap)", [command_repair(["chmod", "u+s", tool])]))
    return out


def check_tun(host: Host) -> Check:
    st = host.stat("/dev/net/tun")
    if st is None:
        return Check("/dev/net/tun", FAIL, "missing: pasta cannot give pods a network", "modprobe tun")
    if st.mode & 0o006 != 0o006:
        return Check("/dev/net/tun", FAIL, f"mode {st.mode:04o}: users cannot open it, so pods cannot publish ports",
                     "chmod 0666 /dev/net/tun (udev normally does this)", [command_repair(["chmod", "0666", "/dev/net/tun"])])
    return Check("/dev/net/tun", OK, "usable by users")


def check_cgroups(host: Host, users: list[AppUser]) -> list[Check]:
    root = host.read_file("/sys/fs/cgroup/cgroup.controllers")
    if root is None:
        return [Check("cgroup v2", FAIL, "the unified cgroup hierarchy is not mounted",
                      "boot with systemd.unified_cgroup_hierarchy=1")]
    return [Check("cgroup v2", OK, f"controllers: {root.strip() or 'none'}")]


def check_limits(host: Host, apps: dict[str, AppRecord]) -> list[Check]:
    """Whether the kernel holds each app's containers to the spec's `limits`: only where the cgroup
    controllers are delegated to the app's user manager (elsewhere systemd shows them and nothing applies them)."""
    from roost.spec.load import parse_spec

    out = []
    for a in apps.values():
        uid = a.uid
        have = set((host.read_file(f"/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service/"
                                   "cgroup.controllers") or "").split())
        missing = [c for c in CONTROLLERS if c not in have]
        text = host.read_file(a.layout.applied_spec)  # root's copy: trusted
        try:
            spec = parse_spec(text, a.name) if text else None
        except RoostError:
            spec = None
        limited = sorted(n for n, c in (spec.containers.items() if spec else ()) if c.limits.service_entries)
        fix = ("add /etc/systemd/system/user@.service.d/delegate.conf with [Service] Delegate=cpu memory pids, "
               "run systemctl daemon-reload, then restart the app's user manager (or reboot)")
        if not missing:
            out.append(Check(f"limits {a.name}", OK, f"enforced: user@{uid}.service has cpu, memory and pids"
                             + (f" ({', '.join(limited)} have limits)" if limited else "")))
        elif limited:
            out.append(Check(f"limits {a.name}", WARN,
                             f"NOT enforced on this host for {', '.join(limited)}: user@{uid}.service has no "
                             f"{', '.join(missing)} controller (systemctl shows the limits, the kernel does not "
                             "apply them)", fix))
        else:
            out.append(Check(f"limits {a.name}", OK, f"no limits in the spec; this host would not enforce them "
                             f"(user@{uid}.service has no {', '.join(missing)} controller)"))
    return out


def check_network_online(host: Host) -> Check:
    active = host.run(["systemctl", "is-active", "network-online.target"], check=False).stdout.strip()
    if active == "active":
        return Check("network-online.target", OK, "reached at boot: Quadlet units start after a reboot")
    return Check(
        "network-online.target", FAIL,
        f"is {active or 'unknown'}: Quadlet units wait on it, so apps do not come back after a reboot",
        "systemctl add-wants multi-user.target network-online.target (and enable your network's wait-online service)",
        [command_repair(["systemctl", "add-wants", "multi-user.target", "network-online.target"]),
         command_repair(["systemctl", "start", "--no-block", "network-online.target"])],
    )


def check_subids(system, apps: dict[str, AppRecord]) -> list[Check]:
    out = []
    real = {u.uid for u in system.users.values()}
    for kind, ranges in (("subuid", system.subuids), ("subgid", system.subgids)):
        for name in sorted(apps):
            own = [r for r in ranges if r.owner == name]
            if not own:
                out.append(Check(f"{kind} {name}", FAIL, f"{name} has no /etc/{kind} range", "roost apply the app's spec again"))
                continue
            r = own[0]
            problems = []
            if r.count < SUBID_COUNT:
                problems.append(f"only {r.count} IDs (need {SUBID_COUNT})")
            clash = [o.owner for o in ranges if o.owner != name and o.overlaps(r.start, r.count)]
            if clash:
                problems.append(f"overlaps the range of {', '.join(sorted(set(clash)))}")
            if any(r.start <= i < r.end for i in real):
                problems.append("contains a real UID")
            if problems:
                out.append(Check(f"{kind} {name}", FAIL, f"{r.start}-{r.end - 1}: " + "; ".join(problems),
                                 f"edit /etc/{kind} so that {name} owns a free range of {SUBID_COUNT}, then "
                                 f"`podman system migrate` as {name}"))
            else:
                out.append(Check(f"{kind} {name}", OK, f"{r.start}-{r.end - 1}"))
    return out


def check_linger(host: Host, system, users: list[AppUser]) -> list[Check]:
    out = []
    for u in users:
        if u.name not in system.linger:
            out.append(Check(f"linger {u.name}", FAIL, "off: the app stops at logout and does not start at boot",
                             f"loginctl enable-linger {u.name}", [command_repair(["loginctl", "enable-linger", u.name])]))
            continue
        if user_manager_running(host, u.uid):
            out.append(Check(f"linger {u.name}", OK, f"on; user@{u.uid}.service runs, {u.runtime_dir}/bus exists"))
        else:
            out.append(Check(f"linger {u.name}", FAIL, f"on, but user@{u.uid}.service is not running",
                             f"systemctl start user@{u.uid}.service",
                             [command_repair(["systemctl", "start", f"user@{u.uid}.service"])]))
    return out


def check_ports(host: Host, apps: dict[str, AppRecord]) -> Check:
    start = int((host.read_file("/proc/sys/net/ipv4/ip_unprivileged_port_start") or "1024").strip() or 1024)
    published = {(n, parse_publish(p).host_port) for n, a in apps.items() for p in a.publish}
    low = sorted((n, port) for n, port in published if port < start)
    if low:
        listed = ", ".join(f"{n}:{p}" for n, p in low)
        return Check("unprivileged ports", FAIL, f"rootless pods cannot bind {listed} (below {start})",
                     f"sysctl -w net.ipv4.ip_unprivileged_port_start={min(p for _, p in low)} (and persist it "
                     "in /etc/sysctl.d), or publish a port >= 1024 behind a reverse proxy")
    return Check("unprivileged ports", OK, f"every published port is >= {start}")


def check_selinux(host: Host, specs_use_z: bool) -> Check:
    enforce = host.read_file("/sys/fs/selinux/enforce")
    if enforce is None:
        return Check("SELinux", OK, "not active: :Z/:z volume labels are accepted and have no effect")
    if enforce.strip() == "1" and not specs_use_z:
        return Check("SELinux", WARN, "enforcing, and some volumes have no :Z/:z label: containers may be denied",
                     "add :Z (private) or :z (shared) to those volumes in the spec")
    return Check("SELinux", OK, "enforcing; volumes carry :Z/:z labels" if enforce.strip() == "1" else "permissive")


def _fix_file(path: str, uid: int, gid: int) -> Callable[[Host], None]:
    def repair(host: Host) -> None:
        host.fix_file(path, mode=0o600, uid=uid, gid=gid)  # through a checked fd: no link, one hard link

    repair.__doc__ = f"chmod 0600 and chown {uid}:{gid} {path!r}"
    return repair


def check_app_files(host: Host, record: AppRecord) -> list[Check]:
    """Env and secret files: 0600 and the app user's. The names come from directories the app
    user controls: they are listed with scandir (a newline is part of a name, not a separator)
    and only regular files are repaired, each through an fd opened without following links."""
    layout = record.layout
    uid, gid = record.uid, record.gid
    bad, repairs, odd = [], [], []
    for directory in (layout.env_dir, layout.secrets_dir):
        try:
            entries = host.list_dir(directory) or []
        except RoostError as e:
            odd.append(e.message)
            continue
        for name, st in entries:
            path = posixpath.join(directory, name)
            if not st.is_file:
                if not st.is_dir:
                    odd.append(f"{path!r} is not a regular file")
                continue
            if st.mode != 0o600 or st.uid != uid:
                bad.append(f"{path!r} ({st.mode:04o}, uid {st.uid})")
                repairs.append(_fix_file(path, uid, gid))
    label = f"secret files {record.name}"
    out = []
    if odd:
        out.append(Check(label, WARN, "; ".join(odd), f"look at them as {record.name} (`roost shell {record.name}`)"))
    if bad:
        return [*out, Check(label, FAIL, "not 0600/owned by the app user: " + ", ".join(bad),
                            f"chmod 0600 and chown {record.name} those files", repairs)]
    return out or [Check(label, OK, "env and secret files are 0600, owned by the app user")]


def check_generator(host: Host, user: AppUser) -> Check:
    tool = next((p for p in QUADLET if host.exists(p)), None)
    if tool is None:
        return Check(f"units {user.name}", FAIL, "no Quadlet generator", "install podman >= 5.0")
    r = host.run([tool, "-dryrun", "-user"], user=user, check=False, timeout=60)
    noise = [plain(line)[:300] for line in r.stderr.splitlines()
             if re.search(r"unsupported|error|warning|invalid", line, re.I)]
    if not r.ok or noise:
        return Check(f"units {user.name}", FAIL, "; ".join(noise[:3]) or f"generator exited {r.returncode}",
                     f"fix the spec and `roost apply` it; see `roost shell {user.name}` then {tool} -dryrun -user")
    return Check(f"units {user.name}", OK, "Quadlet generates every unit without a warning")


ROOST_UNITS = (units.RESTART_SERVICE, units.BACKUP_SERVICE, units.AUTO_UPDATE_SERVICE)
_ARGV = re.compile(r"argv\[\]=([^;]*);")


def roost_commands(show_output: str) -> list[tuple[str, ...]]:
    """The roost commands (up to the verb) in `systemctl show -p ExecStart,ExecStartPre,ExecStopPost`."""
    out: list[tuple[str, ...]] = []
    for m in _ARGV.finditer(show_output):
        argv = m.group(1).split()
        if len(argv) >= 3 and argv[1:3] == ["-m", "roost"]:
            cmd = tuple(argv[:3])
        elif argv and os.path.basename(argv[0]) == "roost":
            cmd = (argv[0],)
        else:
            continue
        if cmd not in out:
            out.append(cmd)
    return out


def check_roost_command(host: Host, user: AppUser, containers: tuple[str, ...] | list[str] = (),
                        expected: tuple[str, ...] | None = None) -> Check:
    """The app's own units run roost as its user (nightly backup, auto-update restart,
    notifications): that command must be the roost this host has (what roost renders into
    them), and that user must be able to reach it. The command lines read from the units are
    the app user's to write, so they are only compared as text, never run: root runs nothing
    a path or command line in them names (docs/security.md)."""
    from roost.command import roost_command

    name = f"roost command {user.name}"
    expected = expected or roost_command()
    show = host.run(["systemctl", "--user", "show", "-p", "ExecStart,ExecStartPre,ExecStopPost", "--", *ROOST_UNITS,
                     *(units.failed(c) for c in containers)],
                    user=user, check=False, timeout=30)
    commands = roost_commands(show.stdout)
    if not commands:
        return Check(name, OK, "no unit of the app runs roost")
    fix = ("install roost where every user can run it: `sudo scripts/install` from a roost checkout "
           "(a root-owned venv in /opt/roost), which also runs `roost reapply` to point the units at it")
    other = [c for c in commands if c != expected]
    if other:
        shown = plain(" ".join(other[0]))[:200]
        return Check(name, FAIL, f"the app's units run {shown!r}, not the roost of this host "
                                 f"({' '.join(expected)})", fix)
    # the interpreter root chose, asked with `test` (never run): reachable by the app's user?
    if not host.run(["test", "-x", expected[0]], user=user, check=False, timeout=30).ok:
        return Check(name, FAIL, f"the app's units run {' '.join(expected)}, which {user.name} cannot run "
                                 f"({expected[0]} is out of its reach)", fix)
    return Check(name, OK, f"the app's units run {' '.join(expected)}, which {user.name} can reach")


def check_storage(host: Host, user: AppUser) -> list[Check]:
    out = []
    try:
        vfs = os.statvfs(user.home)
        free = vfs.f_bavail * vfs.f_frsize
    except OSError:
        free = None
    if free is None:
        out.append(Check(f"disk {user.name}", FAIL, f"{user.home} does not exist", "roost apply the app's spec"))
    elif free < 2 * 1024**3:
        out.append(Check(f"disk {user.name}", WARN, f"{free / 1024**3:.1f} GiB free in {user.home}",
                         "free space: images, volumes and backups live there"))
    else:
        out.append(Check(f"disk {user.name}", OK, f"{free / 1024**3:.1f} GiB free in {user.home}"))
    if host.exists(f"{user.runtime_dir}/bus"):
        info = host.run(["podman", "info", "--format", "json"], user=user, check=False, timeout=60)
        try:
            driver = json.loads(info.stdout)["store"]["graphDriverName"]
        except (ValueError, KeyError, TypeError):
            driver = ""
        if driver == "vfs":
            out.append(Check(f"storage {user.name}", WARN, "podman uses the vfs driver: every layer is a full copy",
                             "install fuse-overlayfs or use a kernel with rootless overlay, then `podman system reset`"))
        elif driver:
            out.append(Check(f"storage {user.name}", OK, f"driver {plain(driver)[:40]}"))
    return out


def run_checks(host: Host, apps: dict[str, AppRecord], only: str | None = None) -> list[Check]:
    system = gather_system(host)
    if only:
        apps = {k: v for k, v in apps.items() if k == only}
    users = [a.user for a in apps.values() if a.name in system.users]
    checks = [*check_podman(host, system), *check_idmap_helpers(host), check_tun(host),
              *check_cgroups(host, users), *check_limits(host, apps), check_network_online(host),
              *check_subids(system, apps), *check_linger(host, system, users), check_ports(host, apps),
              *check_app_networks(host, apps),
              check_selinux(host, all(":Z" in v or ":z" in v for a in apps.values() for v in a.volumes))]
    from roost.frontdoor.doctor import check_frontdoor  # imports this module's Check

    checks += check_frontdoor(host, apps)
    for a in apps.values():
        checks += check_app(host, a, users)
    return checks


def check_app(host: Host, a: AppRecord, users: list[AppUser]) -> list[Check]:
    """One app's own checks. Every command in them runs as its user with a timeout: an app whose
    user stalls podman or its manager costs one failed line, not the whole doctor."""
    user = a.user
    out = list(check_app_files(host, a))
    try:
        out += check_storage(host, user)
        if user in users and host.exists(f"{user.runtime_dir}/bus"):
            out.append(check_generator(host, user))
            out.append(check_roost_command(host, user, a.containers))
    except RoostError as e:
        out.append(Check(f"app {user.name}", FAIL, plain(e.message)[:300],
                         f"look at the app as its user: `roost shell {user.name}`"))
    return out
