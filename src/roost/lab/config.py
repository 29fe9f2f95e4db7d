"""Pure parts of the lab: package lists, argv builders and the files written into the
rootfs. Nothing here touches the machine, so it is all unit-tested."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

SUITE = "trixie"  # Debian 13: systemd 257, podman 5.4
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# The lab registry, as test images and example specs name it. Labs share the machine's
# network, so a second lab (or anything else on :5000) needs another address.
REGISTRY = os.environ.get("ROOST_LAB_REGISTRY", "127.0.0.1:5000")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The lab host: a small server with systemd, logind and rootless podman, plus what the
# lab itself uses (python3-venv to install roost, docker-registry for the test images), and
# caddy, the front door roost manages (installed but left disabled: roost enables it).
LAB_PACKAGES: tuple[str, ...] = (
    "systemd", "systemd-sysv", "dbus", "dbus-user-session", "libpam-systemd",
    "podman", "crun", "passt", "uidmap", "catatonit", "aardvark-dns", "netavark",
    "fuse-overlayfs", "systemd-container", "iproute2", "procps", "curl", "ca-certificates",
    "python3", "python3-venv", "docker-registry", "less", "caddy",
    "nftables",  # netavark's firewall driver: rootless networks (one per app) need nft
    "restic",  # offsite backups: the app's side of a restic repository
)  # fmt: skip

# The root of the test images: PostgreSQL for the database image, psycopg for the notes
# app, curl for roost's HTTP health checks.
BASE_PACKAGES: tuple[str, ...] = ("postgresql", "python3-psycopg", "curl", "ca-certificates")

# Left out of the base image tarball: caches, docs and the cluster Debian creates on install
# (the postgres image initialises its own in PGDATA).
BASE_TAR_EXCLUDES: tuple[str, ...] = (
    "./proc/*", "./sys/*", "./dev/*", "./run/*", "./tmp/*",
    "./var/cache/apt/*", "./var/lib/apt/lists/*", "./var/log/*",
    "./usr/share/doc/*", "./usr/share/man/*", "./usr/share/info/*", "./usr/share/locale/*",
    "./var/lib/postgresql/*", "./etc/postgresql/*",
)  # fmt: skip

MACHINE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")

# Quirks of running nested (design.md): keyctl is filtered, /proc/sys is read-only and no
# cgroup controllers are delegated. Only the lab gets these; roost never writes them on real hosts.
CONTAINERS_CONF = """\
# roost lab: quirks of a host booted under systemd-nspawn
[containers]
keyring = false
default_sysctls = []
pids_limit = 0
"""

def registry_config(addr: str) -> str:
    return f"""\
# roost lab: a plain local registry for the test images (no auth, deletes allowed)
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: {addr}
"""

def registries_conf(addr: str) -> str:
    return f"""\
# roost lab: the local registry speaks plain HTTP
[[registry]]
location = "{addr}"
insecure = true
"""

# No udev in a container: /dev/net/tun stays 0600 and pasta (rootless networking) cannot
# open it. A normal host's udev makes it 0666.
TUN_TMPFILES = "z /dev/net/tun 0666 root root -\n"

# Nothing in a container brings the network "online"; a real server's network manager
# would. Without it Quadlet units (which wait for network-online.target) never start at boot.
ONLINE_UNIT_NAME = "roost-lab-online.service"
ONLINE_UNIT = """\
[Unit]
Description=roost lab: the network is the machine's and is always up
DefaultDependencies=no
Before=network-online.target

[Service]
Type=oneshot
ExecStart=/bin/true
RemainAfterExit=yes

[Install]
WantedBy=network-online.target
"""


def mirror_from_sources(texts: Sequence[str]) -> str | None:
    """The first Debian mirror in apt's sources (deb822 `URIs:` or one-line `deb URL ...`)."""
    for text in texts:
        for line in text.splitlines():
            line = line.strip()
            m = re.match(r"^URIs:\s*(\S+)", line) or re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", line)
            if m and re.search(r"/debian/?$", m.group(1)):
                return m.group(1).rstrip("/")
    return None


# PostgreSQL major -> the Debian release that ships it (the lab builds older majors on demand)
PG_SUITES = {"15": "bookworm", "17": "trixie"}


def debootstrap_argv(target: Path, packages: Sequence[str], mirror: str, suite: str = SUITE) -> list[str]:
    return ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", suite, str(target), mirror]


def boot_argv(rootfs: Path, name: str) -> list[str]:
    """Boot the rootfs. --register=no/--keep-unit: the machine has no systemd to register with.
    The console is read-only: we log it, nobody types into it."""
    return [
        "systemd-nspawn", "--quiet", "--boot", f"--directory={rootfs}", f"--machine={name}",
        "--register=no", "--keep-unit", "--console=read-only",
    ]  # fmt: skip


# /proc/sys/net writable (the rest of /proc/sys stays read-only): netavark sets sysctls in the
# rootless network namespace of each app's network (design.md 5c).
BOOT_ENV = {"SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1", "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network", "PATH": PATH}


def nsenter_argv(leader: int, argv: Sequence[str], *, env: dict[str, str] | None = None) -> list[str]:
    """Run argv inside the lab with a clean environment: this machine's PIP_*/certificate
    variables point at files the lab does not have."""
    extra = [f"{k}={v}" for k, v in sorted((env or {}).items())]
    return ["nsenter", "-t", str(leader), "-a", "--", "env", "-i", f"PATH={PATH}", *extra, *argv]


def as_user_argv(user: str, uid: int, home: str, argv: Sequence[str]) -> list[str]:
    """argv as a lingering user inside the lab, with the runtime dir and bus systemctl --user needs."""
    return [
        "runuser", "-u", user, "--", "env", f"--chdir={home}", f"HOME={home}", f"USER={user}",
        f"XDG_RUNTIME_DIR=/run/user/{uid}", f"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus", *argv,
    ]  # fmt: skip


def publish_urls(spec: dict[str, object]) -> list[str]:
    """URLs where the app answers from the machine: the lab shares its network, so a TCP port
    published as [IP:]HOST_PORT:CONTAINER_PORT inside (by the pod, or by each container on an app
    network) is HOST_PORT here."""
    containers = spec.get("containers")
    tables = [spec.get("pod"), *(containers.values() if isinstance(containers, dict) else [])]
    urls = []
    for table in tables:
        publish = table.get("publish", []) if isinstance(table, dict) else []
        for entry in publish if isinstance(publish, list) else []:
            port_part, _, proto = str(entry).partition("/")
            parts = port_part.rsplit(":", 2)
            if proto not in ("", "tcp"):
                continue
            if len(parts) == 3:
                ip, port = parts[0].strip("[]") or "127.0.0.1", parts[1]
            elif len(parts) == 2:
                ip, port = "127.0.0.1", parts[0]
            else:
                continue
            ip = "127.0.0.1" if ip in ("0.0.0.0", "") else ip
            host = f"[{ip}]" if ":" in ip else ip
            urls.append(f"http://{host}:{port}/")
    return urls


def digest(*parts: str | bytes) -> str:
    """Short stable hash of what a cached artefact was built from."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def web_hints(spec: dict[str, object], rootfs: str) -> list[str]:
    """How to reach a spec's [web] site from the machine: the URL, and for the internal CA where its
    root certificate is (inside the lab's disk) and how to trust it."""
    web = spec.get("web")
    if not isinstance(web, dict) or not web.get("domains"):
        return []
    domains = [str(d) for d in web["domains"]]
    tls = web.get("tls", "acme")
    scheme, port = ("http", 80) if tls == "off" else ("https", 443)
    lines = [f"{scheme}://{d}/" for d in domains]
    resolve = f"--resolve {domains[0]}:{port}:127.0.0.1"
    if tls == "internal":
        root = f"{rootfs.rstrip('/')}/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt"
        lines += [
            f"the lab's internal CA signed the certificate; its root is {root}",
            f"  curl {resolve} --cacert {root} https://{domains[0]}/",
            f"  trust it on this machine: cp {root} /usr/local/share/ca-certificates/roost-lab.crt && "
            "update-ca-certificates",
            f"  browsers: import it as an authority, and add `127.0.0.1 {' '.join(domains)}` to /etc/hosts",
        ]
    else:
        lines.append(f"  curl {resolve} {scheme}://{domains[0]}/")
    return lines
