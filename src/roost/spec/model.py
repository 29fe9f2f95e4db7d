"""The spec: one TOML file describing one app. Typed, frozen, validated on load.

Everything a user writes is checked here, before any fact is read or any command runs,
so that bad input never reaches the host.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import posixpath
import re
from functools import cached_property
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

from roost.frontdoor.model import Web

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}\Z")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
SECRET_REF_RE = re.compile(r"\$\{secrets\.([^}]*)\}")
SECRET_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}\Z")
DURATION_RE = re.compile(r"^([0-9]{1,12})(ms|s|m|h)\Z")
# registry[:port]/path[:tag][@digest], lower-case as the distribution spec requires
# (every pattern ends in \Z, not $: `$` also matches before a trailing newline)
IMAGE_RE = re.compile(
    r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?\Z"
)
PUBLISH_RE = re.compile(
    r"^(?:(?P<ip>[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\[[0-9a-fA-F:]+\]):)?"
    r"(?P<host>[0-9]{1,5}):(?P<ctr>[0-9]{1,5})(?:/(?P<proto>tcp|udp))?\Z"
)
VOLUME_OPTIONS = {"z", "Z", "ro", "rw", "U", "noexec", "nosuid", "nodev", "exec", "suid", "dev"}
# names that would shadow a system account or a roost directory
RESERVED_NAMES = {"root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
                  "www-data", "backup", "list", "irc", "nobody", "systemd-network", "systemd-timesync", "messagebus",
                  "sshd", "postgres", "lab", "roost", "admin", "sudo", "users", "staff"}

# What a typical image needs to start: an entrypoint that fixes ownership of its data and
# drops to its own user. Everything else podman grants by default is dropped.
DEFAULT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETGID", "SETUID")

# The host's own trees: an app's home (or a host path given to its containers) is never one of
# them nor inside one, and never a folder that holds them or other apps' homes (the app user
# would own it: a typo in app.home must not hand /etc or /srv to an app).
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run",
                "/sbin", "/sys", "/usr", "/tmp", "/var/tmp", "/var/log", "/var/cache", "/var/spool", "/var/mail",
                "/var/lib/roost", "/var/lib/systemd", "/var/lib/containers", "/var/lib/dpkg",
                "/var/lib/apt", "/var/lib/rpm", "/var/lib/caddy", "/snap", "/lost+found")
SYSTEM_DIRS = ("/home", "/srv", "/srv/roost", "/opt", "/var", "/var/lib", "/var/opt", "/var/local", "/mnt", "/media",
               "/usr/local", "/data", "/var/backups")
# Units of the app user's systemd that a container's unit (NAME.service) must not shadow
RESERVED_UNITS = {"dbus", "default", "basic", "exit", "shutdown", "sockets", "timers", "paths", "printer", "sound",
                  "bluetooth", "smartcard", "graphical-session", "graphical-session-pre", "init", "pipewire",
                  "pipewire-pulse", "wireplumber", "pulseaudio", "gpg-agent", "ssh-agent", "at-spi-dbus-bus"}
RESERVED_UNIT_PREFIXES = ("systemd-", "dbus-", "podman", "roost-", "xdg-", "user-", "app-", "session-")


def check_host_dir(v: str, what: str) -> str:
    """A host directory roost gives to an app: normalised, absolute, not the host's own."""
    check_text(v)
    if not v.startswith("/") or posixpath.normpath(v) != v or v.startswith("//") or v == "/":
        raise ValueError(f"{v!r} must be a normalised absolute path (no '..', no trailing '/')")
    if ":" in v:
        raise ValueError(f"{v!r} contains ':', which Volume= and podman read as a separator")
    for tree in SYSTEM_TREES:
        if v == tree or v.startswith(tree + "/"):
            raise ValueError(f"{v!r} is inside the system directory {tree}: {what} must live elsewhere, "
                             "e.g. /srv/roost/NAME")
    for d in (*SYSTEM_TREES, *SYSTEM_DIRS):
        if d == v or d.startswith(v + "/"):
            raise ValueError(f"{v!r} is (or holds) the system directory {d}: {what} must be a folder of its own, "
                             f"e.g. {v.rstrip('/')}/NAME" if v != d else f"{v!r} is a system directory: {what} must "
                             f"be a folder of its own inside it, e.g. {v}/NAME")
    return v


MIN_APP_ID = 2000  # above the distributions' system range, and journald keeps users >= 1000 apart
MAX_APP_ID = 59999


def check_text(value: str) -> str:
    """Refuse what cannot be written into a unit or env file so that it means exactly itself."""
    for ch in value:
        if ch in "\n\r":
            raise ValueError("must be a single line (newlines are not allowed)")
        if (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F:
            raise ValueError(f"contains the control character {ch!r}")
    if len(value) > 4096:
        raise ValueError("is longer than 4096 characters")
    return value


Text = Annotated[str, AfterValidator(check_text)]


def check_unit_value(value: str) -> str:
    """Refuse what a unit file cannot hold as one raw value (HealthCmd=, Volume=, OnCalendar=):
    Quadlet and systemd drop white space around it, join a line ending in a backslash with the
    next, and Quadlet's Lookup() drops a pair of double quotes around the whole value."""
    check_text(value)
    if not value:
        raise ValueError("must not be empty")
    if value != value.strip():
        raise ValueError(f"{value!r} must not start or end with white space")
    if value.endswith("\\"):
        raise ValueError(f"{value!r} must not end with a backslash")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        raise ValueError(f"{value!r} must not be wrapped in double quotes as a whole")
    return value


def check_argument(value: str) -> str:
    check_text(value)
    if not value:
        raise ValueError("must not be empty (Quadlet's Exec= drops an empty argument and all that follow it)")
    return value


Argument = Annotated[str, AfterValidator(check_argument)]
UnitValue = Annotated[str, AfterValidator(check_unit_value)]
MAX_DURATION_MS = 7 * 24 * 3600 * 1000  # a week; podman (Go) cannot represent much beyond 292 years anyway


def parse_duration(value: str) -> float:
    m = DURATION_RE.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a duration like 500ms, 10s, 2m or 1h")
    ms = int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}[m.group(2)]
    if ms > MAX_DURATION_MS:
        raise ValueError(f"{value!r} is longer than a week")
    return ms / 1000


def check_duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, AfterValidator(check_duration)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?\Z")
SIZE_RE = re.compile(r"^([0-9]{1,12})([kmgt]?)\Z", re.IGNORECASE)
TMPFS_RE = re.compile(r"^(/[A-Za-z0-9_./-]*)(?::((?:size=[0-9]{1,12}[kmgKMG]?|mode=[0-7]{3,4}|noexec|nosuid|nodev|exec)"
                      r"(?:,(?:size=[0-9]{1,12}[kmgKMG]?|mode=[0-7]{3,4}|noexec|nosuid|nodev|exec))*))?\Z")


def parse_size(value: str) -> int:
    """`512m`, `2g`, `65536` (bytes) -> bytes; at least 6 MB (podman's floor for a memory limit)."""
    m = SIZE_RE.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a size like 512m or 2g")
    size = int(m.group(1)) * 1024 ** " kmgt".index(m.group(2).lower() or " ")
    if size < 6 * 1024 * 1024:
        raise ValueError(f"{value!r} is below 6m, too little for any container")
    return size


def check_size(value: str) -> str:
    parse_size(value)
    return value


def check_tmpfs(value: str) -> str:
    m = TMPFS_RE.match(value)
    if not m or posixpath.normpath(m.group(1)) != m.group(1) or m.group(1) == "/":
        raise ValueError(f"{value!r} is not a tmpfs mount like /run/app or /tmp:size=64m,mode=1777")
    return value


Size = Annotated[str, AfterValidator(check_size)]
TmpfsMount = Annotated[str, AfterValidator(check_tmpfs)]


class Limits(Model):
    """What a container (or the whole app) may use: enforced by systemd's cgroup limits."""

    memory: Size | None = None  # MemoryMax=: the kernel kills the container's processes above it
    cpus: float | None = Field(None, gt=0, le=1024)  # CPUQuota=: 1.5 = one and a half cores
    pids: StrictInt | None = Field(None, ge=16, le=4_194_304)  # TasksMax=: processes and threads

    @field_validator("cpus", mode="before")
    @classmethod
    def _cpus(cls, v: object) -> object:
        if isinstance(v, bool) or not isinstance(v, (int, float, type(None))):
            raise ValueError("cpus is a number like 0.5 or 2")
        return v

    @property
    def service_entries(self) -> list[tuple[str, str]]:
        """The [Service] settings (the unit's cgroup holds the container: Quadlet sets Delegate=yes)."""
        out = []
        if self.memory is not None:
            out.append(("MemoryMax", str(parse_size(self.memory))))
        if self.cpus is not None:
            out.append(("CPUQuota", f"{round(self.cpus * 100)}%"))
        if self.pids is not None:
            out.append(("TasksMax", str(self.pids)))
        return out


class AppSettings(Model):
    """The [app] table: who the app runs as and where it lives."""

    name: str = Field(description="app name: user, group, pod and directory are named after it")
    uid: StrictInt | None = Field(None, ge=MIN_APP_ID, le=MAX_APP_ID)
    gid: StrictInt | None = Field(None, ge=MIN_APP_ID, le=MAX_APP_ID)
    home: str | None = None
    allow_host_paths: tuple[str, ...] = ()
    health_timeout: Duration = "300s"
    # a ceiling on the whole app (its user's slice), in a root-owned drop-in the app's user cannot raise
    limits: Limits = Limits(memory=None, cpus=None, pids=None)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"{v!r} is not a valid app name: use 1-31 lower-case letters, digits and '-', "
                             "starting with a letter")
        if v in RESERVED_NAMES:
            raise ValueError(f"{v!r} clashes with a system account name; pick another")
        return v

    @cached_property
    def health_timeout_s(self) -> float:
        return parse_duration(self.health_timeout)

    @field_validator("health_timeout")
    @classmethod
    def _timeout(cls, v: str) -> str:
        if parse_duration(v) < 5:
            raise ValueError(f"{v!r} is too short: give the app at least 5s to become healthy")
        return v

    @field_validator("home")
    @classmethod
    def _home(cls, v: str | None) -> str | None:
        return v if v is None else check_host_dir(v, "an app's home")

    @field_validator("allow_host_paths")
    @classmethod
    def _allowed(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for p in v:
            check_host_dir(p, "a host path given to containers")
        return v


class Publish(Model):
    ip: str
    host_port: int
    container_port: int
    proto: Literal["tcp", "udp"] = "tcp"

    def __str__(self) -> str:
        suffix = "" if self.proto == "tcp" else f"/{self.proto}"
        return f"{self.ip}:{self.host_port}:{self.container_port}{suffix}"


def parse_publish(value: str) -> Publish:
    m = PUBLISH_RE.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a port mapping like 127.0.0.1:8080:80 or 8080:80")
    host, ctr = int(m["host"]), int(m["ctr"])
    for port in (host, ctr):
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} in {value!r} is out of range 1-65535")
    ip = m["ip"] or "127.0.0.1"  # loopback unless the spec says otherwise explicitly
    version, address = (6, ip[1:-1]) if ip.startswith("[") else (4, ip)
    try:  # as podman (Go's net.ParseIP) reads it: no leading zeros, a real IPv6 address
        ipaddress.IPv6Address(address) if version == 6 else ipaddress.IPv4Address(address)
    except ValueError:
        raise ValueError(f"{ip!r} in {value!r} is not an IPv{version} address") from None
    return Publish(ip=ip, host_port=host, container_port=ctr, proto="udp" if m["proto"] == "udp" else "tcp")


HOST_NAME_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9_])?\Z")


def check_publish_list(v: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[tuple[int, str]] = set()
    for item in v:
        p = parse_publish(item)
        if (p.host_port, p.proto) in seen:
            raise ValueError(f"host port {p.host_port}/{p.proto} is published twice")
        seen.add((p.host_port, p.proto))
    return v


def check_host_names(v: tuple[str, ...]) -> tuple[str, ...]:
    for name in v:
        if not HOST_NAME_RE.match(name) or name.lower() == "localhost":
            raise ValueError(f"{name!r} is not a host name like db or redis (letters, digits, '.', '-', '_')")
    if len(set(v)) != len(v):
        raise ValueError("a host name is listed twice")
    return v


PublishList = Annotated[tuple[str, ...], AfterValidator(check_publish_list)]
HostNames = Annotated[tuple[str, ...], AfterValidator(check_host_names)]


class Publishes(Model):
    """Something that publishes host ports: the pod, or a container with a namespace of its own."""

    publish: PublishList = ()

    @cached_property
    def ports(self) -> list[Publish]:
        """`publish`, parsed once."""
        return [parse_publish(p) for p in self.publish]


class Pod(Publishes):
    hosts: HostNames = ()  # extra names for 127.0.0.1 inside the pod (compose's service names)


class Network(Model):
    """The [network] table: the app gets one private network (a Quadlet .network), and each
    container not grouped into the pod runs in a network namespace of its own on it, found by
    its name and `aliases` (aardvark-dns), publishing its own ports. No keys are needed."""

    internal: StrictBool = False  # no route out of the network (containers reach only each other)


class SecretSpec(Model):
    generate: StrictInt = Field(ge=16, le=1024, description="length of a random secret, generated once")


class Health(Model):
    cmd: UnitValue | None = None
    http: Text | None = None
    interval: Duration = "10s"
    timeout: Duration = "5s"
    retries: StrictInt = Field(default=3, ge=1, le=100)
    start_period: Duration = "0s"

    @model_validator(mode="after")
    def _one(self) -> Health:
        if (self.cmd is None) == (self.http is None):
            raise ValueError("give exactly one of `cmd` or `http`")
        if self.http is not None and not re.match(r"^https?://[^\s'\"`$;|&<>()\\]+\Z", self.http):
            raise ValueError(f"{self.http!r} is not a plain http(s) URL")
        return self

    @property
    def command(self) -> str:
        """What runs inside the container (through /bin/sh -c, as podman does for a string)."""
        if self.cmd is not None:
            return self.cmd
        return f"curl -fsS -o /dev/null --max-time 5 {self.http}"


class Volume(Model):
    source: str  # as written: relative (under home) or absolute
    target: str
    options: tuple[str, ...] = ()


def parse_volume(value: str) -> Volume:
    parts = value.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ValueError(f"{value!r} is not a volume like 'data:/var/lib/data:Z' (host path : container path [: options])")
    source, target = parts[0], parts[1]
    options = tuple(parts[2].split(",")) if len(parts) == 3 else ()
    if not target.startswith("/") or posixpath.normpath(target) != target:
        raise ValueError(f"container path {target!r} must be a normalised absolute path")
    bad = [o for o in options if o not in VOLUME_OPTIONS]
    if bad:
        raise ValueError(f"unknown volume option(s) {', '.join(bad)}; allowed: {', '.join(sorted(VOLUME_OPTIONS))}")
    if not source.startswith("/"):
        norm = posixpath.normpath(source)
        if norm.startswith("..") or norm == ".":
            raise ValueError(f"host path {source!r} leaves the app's home; use a path inside it")
    elif posixpath.normpath(source) != source:
        raise ValueError(f"host path {source!r} must be normalised (no '..', '.', or '//')")
    return Volume(source=source, target=target, options=options)


class Container(Publishes):
    image: str
    auto_update: Literal["registry", "local"] | None = None
    requires: tuple[str, ...] = ()
    env: dict[str, Text] = Field(default_factory=dict)
    env_file: Text | None = None
    volumes: tuple[str, ...] = ()
    health: Health | None = None
    command: tuple[Argument, ...] | None = None
    entrypoint: tuple[Argument, ...] | None = None  # replaces the image's entrypoint; () clears it
    postgres: StrictBool | None = None  # marks a PostgreSQL container; None = detect from the image name
    # hardened defaults, each with its opt-out
    no_new_privileges: StrictBool = True
    cap_add: tuple[str, ...] = ()  # beyond DEFAULT_CAPS; ["ALL"] keeps podman's own default set
    read_only: StrictBool = False
    # with [network] (see Network): where the container's network namespace comes from
    pod: StrictBool | None = None  # True: grouped into the pod (shares its namespace and pod.publish)
    share_network_with: str | None = None  # another container's namespace (compose network_mode "service:X")
    # publish (Publishes): its own ports, 127.0.0.1 unless an address is given
    aliases: HostNames = ()  # more names the other containers find it by
    # how `roost update` replaces it: start-first (the new release beside the old one, switched
    # behind the front door once healthy) or stop-first; None: start-first for the container
    # behind [web] that has no writable volume and is not PostgreSQL, stop-first otherwise
    update: Literal["start-first", "stop-first"] | None = None

    user: str | None = None  # USER[:GROUP] inside the container (names or numbers), as compose's `user:`
    tmpfs: tuple[TmpfsMount, ...] = ()  # container paths mounted as tmpfs (in memory, empty at each start)
    restart: Literal["always", "on-failure", "no"] = "always"  # systemd's Restart= when the container stops
    limits: Limits = Limits(memory=None, cpus=None, pids=None)

    @field_validator("user")
    @classmethod
    def _user(cls, v: str | None) -> str | None:
        if v is not None and not USER_RE.match(v):
            raise ValueError(f"{v!r} is not a user like 1000, 1000:1000 or www-data:www-data")
        return v

    @property
    def writes_volumes(self) -> bool:
        return any("ro" not in v.options for v in self.mounts)

    @field_validator("cap_add")
    @classmethod
    def _caps(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for cap in v:
            name = cap.upper().removeprefix("CAP_")
            if not re.fullmatch(r"[A-Z_]{2,32}", name):
                raise ValueError(f"{cap!r} is not a capability name like NET_ADMIN or CAP_SYS_PTRACE")
            out.append(name)
        if "ALL" in out and len(out) > 1:
            raise ValueError('"ALL" stands alone: it keeps podman\'s default capabilities')
        return tuple(out)

    @property
    def capabilities(self) -> tuple[str, ...] | None:
        """What the container may use, or None for podman's default set (cap_add = ["ALL"])."""
        if self.cap_add == ("ALL",):
            return None
        return tuple(sorted(set(DEFAULT_CAPS) | set(self.cap_add)))

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        if not IMAGE_RE.match(v):
            raise ValueError(f"{v!r} is not an image reference like registry.example.org/team/app:1.2")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if not ENV_KEY_RE.match(key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
        return v

    @field_validator("volumes")
    @classmethod
    def _volumes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        targets = set()
        for item in v:
            check_unit_value(item)
            vol = parse_volume(item)
            if vol.target in targets:
                raise ValueError(f"container path {vol.target} is mounted twice")
            targets.add(vol.target)
        return v

    @field_validator("env_file")
    @classmethod
    def _env_file(cls, v: str | None) -> str | None:
        if v is not None and (v.startswith("/") or ".." in v.split("/") or posixpath.normpath(v) == "."):
            raise ValueError(f"{v!r} must be a path relative to the spec's folder, inside it")
        return v

    @cached_property
    def mounts(self) -> list[Volume]:
        """`volumes`, parsed once."""
        return [parse_volume(v) for v in self.volumes]

    @property
    def is_postgres(self) -> bool:
        if self.postgres is not None:
            return self.postgres
        repo = self.image.split("@")[0].rsplit(":", 1)[0] if ":" in self.image.split("/")[-1] else self.image.split("@")[0]
        return repo.rsplit("/", 1)[-1] in ("postgres", "postgresql")


def _container_name(v: str) -> str:
    if not NAME_RE.match(v):
        raise ValueError(f"{v!r} is not a valid container name (lower-case letters, digits, '-')")
    return v


def _secret_name(v: str) -> str:
    if not SECRET_NAME_RE.match(v):
        raise ValueError(f"{v!r} is not a valid secret name (lower-case letters, digits, '_')")
    return v


ContainerName = Annotated[str, AfterValidator(_container_name)]
SecretName = Annotated[str, AfterValidator(_secret_name)]


# restic repositories roost accepts: a local path, rest-server, SFTP or S3. Credentials never go in
# the spec (it is copied into the app's home and its backups): a user:password@ part is refused.
REPOSITORY_RE = re.compile(r"^(?:/[A-Za-z0-9._/-]+|rest:https?://[A-Za-z0-9.:\[\]-]+(?:/[A-Za-z0-9._/-]*)?"
                           r"|sftp:[A-Za-z0-9._-]+@?[A-Za-z0-9._-]*:[A-Za-z0-9._/~-]+"
                           r"|sftp://[A-Za-z0-9._@-]+(?::[0-9]{1,5})?/[A-Za-z0-9._/~-]*"
                           r"|s3:(?:https?://)?[A-Za-z0-9.:-]+/[A-Za-z0-9._/-]+)\Z")
OFFSITE_SECRET = "offsite-password"  # a '-' no secret of the spec can have: the restic repository's password


class Keep(Model):
    """Retention in the offsite repository, applied by `roost offsite prune` (the trusted side)."""

    daily: StrictInt = Field(default=7, ge=0, le=1000)
    weekly: StrictInt = Field(default=4, ge=0, le=1000)
    monthly: StrictInt = Field(default=6, ge=0, le=1000)

    @model_validator(mode="after")
    def _some(self) -> Keep:
        if not (self.daily or self.weekly or self.monthly):
            raise ValueError("keep at least one snapshot (daily, weekly or monthly above 0)")
        return self


class Offsite(Model):
    """[backup.offsite]: every backup also goes to a restic repository off this server."""

    repository: str = Field(description="restic repository: /path, rest:URL, sftp:HOST:/path or s3:HOST/BUCKET/path")
    keep: Keep = Keep()
    upload_limit: StrictInt | None = Field(None, ge=1, le=10_000_000, description="KiB/s (restic --limit-upload)")

    @field_validator("repository")
    @classmethod
    def _repository(cls, v: str) -> str:
        check_text(v)
        if re.match(r"^(?:rest:https?://|sftp://|s3:https?://)[^/]*:[^/@]*@", v):
            raise ValueError(f"{v!r} holds a password: keep credentials out of the spec (see docs/operations.md, "
                             "offsite credentials)")
        if len(v) > 512 or not REPOSITORY_RE.match(v) or "/../" in v + "/" or v.endswith("/.."):
            raise ValueError(f"{v!r} is not a restic repository roost knows: an absolute path, "
                             "rest:http(s)://HOST[:PORT]/PATH, sftp:[USER@]HOST:/PATH or s3:HOST/BUCKET[/PATH]")
        return v


class Backup(Model):
    keep: StrictInt = Field(default=7, ge=1, le=1000, description="how many backups to keep in <home>/backups")
    schedule: str | None = None  # a systemd OnCalendar= expression, e.g. "daily" or "*-*-* 03:00"
    offsite: Offsite | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[A-Za-z0-9*:/,.~ -]{1,64}\Z", v):
            raise ValueError(f"{v!r} is not a calendar expression like 'daily' or '*-*-* 03:00'")
        return v if v is None else check_unit_value(v)


class Notify(Model):
    # the URLs are secrets (tokens, passwords): the spec names a file that holds them, never the URLs
    urls_file: str = Field(description="file beside the spec, one Apprise URL per line")

    @field_validator("urls_file")
    @classmethod
    def _urls_file(cls, v: str) -> str:
        if v.startswith("/") or ".." in v.split("/") or posixpath.normpath(v) == "." or "\n" in v:
            raise ValueError(f"{v!r} must be a path relative to the spec's folder, inside it")
        return v


class Spec(Model):
    app: AppSettings
    pod: Pod = Pod()
    network: Network | None = None  # one private network for the app (see Network)
    backup: Backup = Backup()
    notify: Notify | None = None
    # names are checked as dict keys so that an error's location is the offending table
    secrets: dict[SecretName, SecretSpec] = Field(default_factory=dict)
    containers: dict[ContainerName, Container]
    web: Web | None = None  # the front door: HTTPS at the app's domains (roost.frontdoor)

    @field_validator("containers")
    @classmethod
    def _containers(cls, v: dict[str, Container]) -> dict[str, Container]:
        if not v:
            raise ValueError("declare at least one container, e.g. [containers.web]")
        return v

    # -- derived values --------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.app.name

    @property
    def home(self) -> str:
        return self.app.home or f"/srv/roost/{self.app.name}"

    def volume_holding(self, container: str, inside: str) -> tuple[Volume, str] | None:
        """The volume under which `inside` (a path in the container) lives, and its host path."""
        best = None
        for vol in self.containers[container].mounts:
            under = inside == vol.target or inside.startswith(vol.target.rstrip("/") + "/")
            if under and (best is None or len(vol.target) > len(best.target)):
                best = vol
        if best is None:
            return None
        rest = posixpath.relpath(inside, best.target)
        base = self.host_path(best.source)
        return best, base if rest == "." else posixpath.join(base, rest)

    def host_path(self, source: str) -> str:
        return source if source.startswith("/") else posixpath.join(self.home, posixpath.normpath(source))

    def start_order(self) -> list[str]:
        """Containers so that each comes after what it requires (the spec has no cycles)."""
        done: list[str] = []

        def visit(name: str) -> None:
            if name in done:
                return
            for dep in self.containers[name].requires:
                visit(dep)
            done.append(name)

        for name in sorted(self.containers):
            visit(name)
        return done

    @property
    def images(self) -> dict[str, str]:
        """container -> image reference."""
        return {n: c.image for n, c in self.containers.items()}

    def in_pod(self, container: str) -> bool:
        """Whether the container runs in the pod's network namespace (always without [network])."""
        c = self.containers[container]
        return self.network is None or bool(c.pod)

    def own_namespace(self, container: str) -> bool:
        """On the app's network with a namespace of its own: not in the pod, not sharing another's."""
        return not self.in_pod(container) and self.containers[container].share_network_with is None

    @property
    def ports(self) -> list[Publish]:
        """Every host port the app publishes: the pod's, then each container's."""
        return [*self.pod.ports, *(p for n in sorted(self.containers) for p in self.containers[n].ports)]

    def publisher(self, port: Publish) -> str | None:
        """The container that publishes `port` itself, or None (the pod publishes it)."""
        return next((n for n, c in sorted(self.containers.items()) if port in c.ports), None)

    def start_first(self, container: str) -> bool:
        """Whether `roost update` starts the new release of `container` beside the old one."""
        c = self.containers[container]
        if c.update is not None:
            return c.update == "start-first"
        up = upstream(self) if self.web is not None else None
        return (up is not None and self.own_namespace(container) and self.publisher(up) == container
                and not c.writes_volumes and not c.is_postgres)

    def required(self) -> set[str]:
        return {dep for c in self.containers.values() for dep in c.requires}

    def generated_secrets(self) -> dict[str, SecretSpec]:
        """Every secret apply generates: the spec's, and the offsite repository's password."""
        extra = {OFFSITE_SECRET: SecretSpec(generate=48)} if self.backup.offsite else {}
        return {**self.secrets, **extra}

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()

def cross_check(spec: Spec) -> list[tuple[tuple[str, ...], str]]:
    """Checks that need the whole spec. Returns (key path, message) pairs."""
    problems: list[tuple[tuple[str, ...], str]] = []
    for cname in spec.containers:
        if unit_clash(spec.name, cname):
            problems.append((("containers", cname),
                             f"a container named {cname!r} would run as {cname}.service, which is "
                             f"{unit_clash(spec.name, cname)}; rename it"))
    for cname, c in spec.containers.items():
        for dep in c.requires:
            if dep not in spec.containers:
                problems.append((("containers", cname, "requires"), f"no container named {dep!r}"))
            elif dep == cname:
                problems.append((("containers", cname, "requires"), "a container cannot require itself"))
        elsewhere = [("image", c.image), *[("command", x) for x in c.command or ()], *[("volumes", v) for v in c.volumes]]
        elsewhere += [("entrypoint", x) for x in c.entrypoint or ()]
        if c.health and c.health.cmd:
            elsewhere.append(("health", c.health.cmd))
        for key, value in elsewhere:
            if "${secrets." in value:
                problems.append((("containers", cname, key),
                                 "${secrets.x} works only in `env` values (it would be written into the unit in clear)"))
        for key, value in c.env.items():
            for ref in SECRET_REF_RE.findall(value):
                if ref not in spec.secrets:
                    known = ", ".join(sorted(spec.secrets)) or "none declared"
                    problems.append(
                        (("containers", cname, "env", key), f"unknown secret ${{secrets.{ref}}} (declared: {known})")
                    )
        for vol in c.mounts:
            if vol.source.startswith("/"):
                inside = vol.source == spec.home or vol.source.startswith(spec.home + "/")
                allowed = any(vol.source == p or vol.source.startswith(p + "/") for p in spec.app.allow_host_paths)
                if not inside and not allowed:
                    problems.append((
                        ("containers", cname, "volumes"),
                        f"{vol.source} is outside the app's home {spec.home}; list it in app.allow_host_paths to allow it",
                    ))
    problems += network_problems(spec)
    problems += web_problems(spec)
    graph = {n: c.requires for n, c in spec.containers.items() if all(d in spec.containers for d in c.requires)}
    cycle = _find_cycle(graph)
    if cycle:
        problems.append((("containers", cycle[0], "requires"), f"`requires` forms a cycle: {' -> '.join(cycle)}"))
    return problems


def network_problems(spec: Spec) -> list[tuple[tuple[str, ...], str]]:
    """Where each container's network namespace comes from, and who publishes what."""
    problems: list[tuple[tuple[str, ...], str]] = []
    seen: dict[tuple[int, str], str] = {(p.host_port, p.proto): "pod.publish" for p in spec.pod.ports}
    for cname, c in sorted(spec.containers.items()):
        where = ("containers", cname)
        if spec.network is None:
            for key in ("pod", "share_network_with", "publish", "aliases"):
                if key in c.model_fields_set:
                    problems.append(((*where, key), f"`{key}` needs the app's own network: add an empty [network] "
                                                    "table (each container then gets a namespace of its own)"))
            if c.update == "start-first":
                problems.append(((*where, "update"), "start-first needs [network] (two releases cannot share "
                                                     "the pod's ports)"))
            continue
        other = c.share_network_with
        if other is not None:
            if c.pod:
                problems.append(((*where, "share_network_with"), "a container is either in the pod or shares "
                                                                 "another container's namespace, not both"))
            if other not in spec.containers or other == cname:
                problems.append(((*where, "share_network_with"), f"no other container named {other!r}"))
            elif not spec.own_namespace(other):
                problems.append(((*where, "share_network_with"), f"{other} has no namespace of its own "
                                                                 "to share: name the container it uses"))
        if (c.publish or c.aliases) and not spec.own_namespace(cname):
            key = "publish" if c.publish else "aliases"
            problems.append(((*where, key), "only a container with a namespace of its own publishes ports and has "
                                            "aliases: use pod.publish for the pod's containers"))
        for p in c.ports:
            if (p.host_port, p.proto) in seen:
                problems.append(((*where, "publish"), f"host port {p.host_port}/{p.proto} is already published "
                                                      f"by {seen[(p.host_port, p.proto)]}"))
            seen[(p.host_port, p.proto)] = f"containers.{cname}"
        if f"{cname}-next" in spec.containers:
            problems.append((("containers", f"{cname}-next"), f"the name is taken by the new release of {cname} "
                                                             "during an update; rename it"))
        if c.update == "start-first" and not spec.own_namespace(cname):
            problems.append(((*where, "update"), "start-first needs a namespace of its own (not in the pod)"))
    if spec.network is not None and spec.pod.publish and not any(spec.in_pod(n) for n in spec.containers):
        problems.append((("pod", "publish"), "no container is in the pod to answer on these ports: publish them "
                                             "from the containers (containers.NAME.publish) or set pod = true"))
    return problems


def upstream(spec: Spec) -> Publish | None:
    """The published TCP port the site proxies to: `web.port`, or the app's only one."""
    assert spec.web is not None
    tcp = [p for p in spec.ports if p.proto == "tcp"]
    if spec.web.port is None:
        return tcp[0] if len(tcp) == 1 else None
    return next((p for p in tcp if p.host_port == spec.web.port), None)


def web_problems(spec: Spec) -> list[tuple[tuple[str, ...], str]]:
    """The front door's rules that need the whole spec: which published port the site proxies to."""
    if spec.web is None:
        return []
    tcp = [str(p.host_port) for p in spec.ports if p.proto == "tcp"]
    if upstream(spec) is not None:
        return []
    if spec.web.port is not None:
        return [(("web", "port"), f"port {spec.web.port} is not a TCP host port in pod.publish "
                                  f"(published: {', '.join(tcp) or 'none'})")]
    if not tcp:
        return [(("web",), "the pod publishes no TCP port for the site to reach: add one to pod.publish, "
                           "e.g. \"127.0.0.1:8080:80\"")]
    return [(("web", "port"), f"the pod publishes {len(tcp)} TCP ports ({', '.join(tcp)}): say which one "
                              "serves the site with web.port")]


def unit_clash(app: str, container: str) -> str | None:
    """Why a container's unit name (CONTAINER.service) would shadow another unit, or None."""
    if container == f"{app}-pod":
        return "the pod's own unit"
    if container in RESERVED_UNITS:
        return "a unit of the user's systemd"
    if container.startswith(RESERVED_UNIT_PREFIXES):
        prefix = next(p for p in RESERVED_UNIT_PREFIXES if container.startswith(p))
        return f"in the name space of units that start with {prefix!r}"
    return None


def _find_cycle(graph: dict[str, tuple[str, ...]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None
