"""Spec + identity -> every file, directory and podman secret the app should have."""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass, field

import roost.units as units
from roost.layout import APPS_DIR, ROOST_STATE_DIR, Layout, next_container
from roost.record import AppRecord, dump_record
from roost.render.envfile import render_env
from roost.render.unitfile import UnitFile, section
from roost.render.volumes import seed_commands
from roost.render.wants import DirWant, FileWant, Identity
from roost.spec.model import SECRET_REF_RE, Container, Spec, parse_duration


@dataclass(frozen=True)
class SecretEnvWant:
    """An env var whose value mentions a secret: delivered as a podman secret, not a file."""

    name: str  # podman secret name
    container: str
    var: str
    template: str  # with ${secrets.x} references

    def resolve(self, secrets: dict[str, str]) -> str | None:
        missing = [r for r in SECRET_REF_RE.findall(self.template) if r not in secrets]
        if missing:
            return None
        return SECRET_REF_RE.sub(lambda m: secrets[m.group(1)], self.template)


@dataclass(frozen=True)
class Desired:
    layout: Layout
    identity: Identity
    dirs: tuple[DirWant, ...]
    files: tuple[FileWant, ...]
    secret_envs: tuple[SecretEnvWant, ...]
    units: dict[str, tuple[str, ...]] = field(default_factory=dict)  # service -> files it is made from
    user_units: tuple[str, ...] = ()  # plain systemd user units and drop-ins (daemon-reload when changed)
    # root's own record of the app (/var/lib/roost/apps/NAME): written before anything else,
    # so that the user, group and range it claims are known as roost's even if apply stops
    state_dirs: tuple[DirWant, ...] = ()
    state_files: tuple[FileWant, ...] = ()

    def file(self, path: str) -> FileWant:
        return next(f for f in self.files if f.path == path)


def secret_digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


BASHRC = """\
# Written by roost: `roost shell {name}` or `runuser -l -s /bin/bash {name}` lands here.
export XDG_RUNTIME_DIR=/run/user/$(id -u)
export DBUS_SESSION_BUS_ADDRESS=unix:path=$XDG_RUNTIME_DIR/bus

# keep every command ever typed here, with a time stamp: this folder is the deployment's logbook
shopt -s histappend
HISTSIZE=
HISTFILESIZE=
HISTIGNORE='ls:ll:cd:pwd:bg:fg:history:exit'
export HISTTIMEFORMAT="[%F %T] "
PROMPT_COMMAND="history -a${{PROMPT_COMMAND:+; $PROMPT_COMMAND}}"
PS1='[\\u@\\h \\W]\\$ '
cd ~
"""


def network_file(layout: Layout) -> str:
    """The app's private network (with [network]): NAME.network, its unit NAME-network.service (units.network)."""
    return posixpath.join(layout.unit_dir, f"{layout.name}.network")


def render_network(spec: Spec) -> str:
    assert spec.network is not None
    return UnitFile((
        section("Unit", ("Description", f"roost app {spec.name} (private network)")),
        section("Network", ("NetworkName", spec.name), ("Label", (f"io.roost.app={spec.name}",)),
                ("Internal", "true") if spec.network.internal else None),
    )).render()


def render_pod(spec: Spec, layout: Layout) -> str:
    grouped = [n for n in sorted(spec.containers) if spec.in_pod(n)]
    networked = spec.network is not None
    return UnitFile((
        section("Unit", ("Description", f"roost app {spec.name} (pod)")),
        section(
            "Pod",
            ("PodName", spec.name),
            # with [network] the pod's containers are found on the app's network by their names
            ("Network", f"{spec.name}.network") if networked else None,
            *[("PodmanArgs", (f"--network-alias={n}",)) for n in grouped if networked],
            *[("PublishPort", str(p)) for p in spec.pod.ports],
            # Quadlet's default stops the pod when its last container stops, which turns a
            # restart of one container (and those that require it) into a restart of the app
            ("PodmanArgs", ("--exit-policy=continue",)),
            # names for 127.0.0.1 in the pod's shared /etc/hosts (PodmanArgs: Quadlet's [Pod] AddHost= needs 5.3)
            *[("PodmanArgs", (f"--add-host={h}:127.0.0.1",)) for h in spec.pod.hosts],
        ),
        section("Install", ("WantedBy", "default.target")),
    )).render()


def _seconds(value: str) -> str:
    """Exactly, in seconds, as podman and systemd read it: 500ms -> 0.5s, 1000001s stays (not 1e+06s)."""
    ms = round(parse_duration(value) * 1000)
    whole, frac = divmod(ms, 1000)
    return f"{whole}.{frac:03d}".rstrip("0").rstrip(".") + "s"


def _namespace(spec: Spec, layout: Layout, name: str, c: Container, nxt: bool
               ) -> tuple[list[tuple[str, str | tuple[str, ...]] | None], list[tuple[str, str]]]:
    """[Container] and [Unit] lines that say where the container's network namespace comes from."""
    if spec.in_pod(name):
        return [("Pod", f"{spec.name}.pod")], []
    # outside the pod: the pod's unit still stands for the whole app (stop, restart, backup)
    unit = [("PartOf", layout.pod_service), ("After", layout.pod_service)]
    if c.share_network_with is not None:
        other = layout.container_service(c.share_network_with)
        return [("Network", f"container:{spec.name}-{c.share_network_with}")], [
            *unit, ("Requires", other), ("After", other)]
    ctr: list[tuple[str, str | tuple[str, ...]] | None] = [("Network", f"{spec.name}.network")]
    if nxt:  # beside the old release: its own name only, a port the kernel picks, on loopback
        ctr += [("PublishPort", f"127.0.0.1::{p.container_port}" + ("/udp" if p.proto == "udp" else ""))
                for p in c.ports]
        return ctr, []
    ctr += [("NetworkAlias", a) for a in (name, *c.aliases)]
    ctr += [("PublishPort", str(p)) for p in c.ports]
    return ctr, unit


Entries = list[tuple[str, str | tuple[str, ...]] | None]


def render_container(spec: Spec, layout: Layout, name: str, c: Container, has_plain_env: bool,
                     nxt: bool = False) -> str:
    """nxt: the unit of the new release a start-first update runs beside the old one."""
    timeout = int(spec.app.health_timeout_s)
    unit = [("Description", f"roost app {spec.name}: {name}" + (" (new release, during an update)" if nxt else ""))]
    for dep in c.requires:
        unit += [("Requires", layout.container_service(dep)), ("After", layout.container_service(dep))]
    if spec.notify is not None and not nxt:  # a failed start (never healthy) or each crash of a restart loop
        unit.append(("OnFailure", units.failed(name)))
    ctr, more_unit = container_entries(spec, layout, name, c, has_plain_env, nxt)
    unit += more_unit
    # limits in [Service], not [Container]: Podman 5.4's Quadlet has no Memory= (it skips a unit that uses one);
    # the unit's cgroup holds the container (Quadlet sets Delegate=yes), so systemd's limits reach it
    service: list[tuple[str, str | tuple[str, ...]]] = [*seed_commands(spec, c), ("Restart", "no" if nxt else c.restart),
                                                         ("TimeoutStartSec", str(timeout)), *c.limits.service_entries]
    # outside the pod nothing else starts it at boot
    install = section("Install", ("WantedBy", "default.target")) if not spec.in_pod(name) and not nxt else None
    return UnitFile((section("Unit", *unit), section("Container", *ctr), section("Service", *service),
                     *([install] if install else []))).render()


def container_entries(spec: Spec, layout: Layout, name: str, c: Container, has_plain_env: bool,
                      nxt: bool = False) -> tuple[Entries, list[tuple[str, str]]]:
    """The [Container] section of a container's unit, and the [Unit] lines its namespace needs
    (also what `roost run` turns into a one-off `podman run`: render/oneoff.py)."""
    timeout = int(spec.app.health_timeout_s)
    where, more_unit = _namespace(spec, layout, name, c, nxt)
    own = next_container(name) if nxt else name  # not NAME: status and update read the label as the container
    ctr: Entries = [
        ("ContainerName", f"{spec.name}-{own}"),
        ("Image", c.image),
        *where,
        ("Label", (f"io.roost.app={spec.name}", f"io.roost.container={own}")),
    ]
    if c.auto_update and not nxt:
        ctr.append(("AutoUpdate", c.auto_update))
    if has_plain_env:
        ctr.append(("EnvironmentFile", layout.env_file(name)))
    for var in sorted(c.env):
        if SECRET_REF_RE.search(c.env[var]):
            ctr.append(("Secret", f"{layout.podman_secret(name, var)},type=env,target={var}"))
    for vol in c.mounts:
        opts = f":{','.join(vol.options)}" if vol.options else ""
        ctr.append(("Volume", f"{spec.host_path(vol.source)}:{vol.target}{opts}"))
    if c.health:
        h = c.health
        ctr += [
            ("HealthCmd", h.command),
            ("HealthInterval", _seconds(h.interval)),
            ("HealthTimeout", _seconds(h.timeout)),
            ("HealthRetries", str(h.retries)),
            ("HealthStartPeriod", _seconds(h.start_period)),
            # check every second until healthy once, so that start (and readiness) is not
            # held back by a long interval; the regular interval takes over afterwards
            ("HealthStartupCmd", h.command),
            ("HealthStartupInterval", "1s"),
            ("HealthStartupRetries", str(max(timeout, 1))),
            ("HealthStartupSuccess", "1"),
            # readiness = healthy: dependants start only then, and podman auto-update can roll back
            ("Notify", "healthy"),
        ]
    if c.no_new_privileges:
        ctr.append(("NoNewPrivileges", "true"))
    if (caps := c.capabilities) is not None:
        ctr += [("DropCapability", "all"), ("AddCapability", " ".join(caps))]
    if c.read_only:
        ctr.append(("ReadOnly", "true"))
    if c.user is not None:
        ctr.append(("User", c.user))
    ctr += [("Tmpfs", path) for path in c.tmpfs]
    if c.entrypoint is not None:  # Quadlet passes it as --entrypoint=VALUE; podman reads a JSON list
        ctr.append(("Entrypoint", json.dumps(list(c.entrypoint), ensure_ascii=False)))
    if c.command:
        ctr.append(("Exec", tuple(c.command)))
    return ctr, more_unit


def auto_update_services(spec: Spec, layout: Layout) -> list[str]:
    """The units podman auto-update would restart: the pod's, and each auto-updated container's outside it."""
    return [layout.pod_service, *(layout.container_service(n) for n, c in sorted(spec.containers.items())
                                  if c.auto_update and not spec.in_pod(n))]


ROOST_CMD = ("/usr/local/bin/roost",)


def render_user_units(spec: Spec, layout: Layout, roost_cmd: tuple[str, ...]) -> dict[str, str]:
    """The nightly pre-update backup hook and the backup timer: plain systemd user units."""
    out = {}
    backup = (*roost_cmd, "backup", spec.name)
    if any(c.auto_update for c in spec.containers.values()):
        # before podman-auto-update pulls anything, take a backup; if that fails, nothing updates
        out[layout.user_unit(f"{units.AUTO_UPDATE_SERVICE}.d/roost-backup.conf")] = UnitFile((
            section("Service", ("ExecStartPre", (*backup, "--reason", "pre-auto-update"))),
        )).render()
        # podman auto-update restarts the unit named by the pod's PODMAN_SYSTEMD_UNIT label for
        # containers in a pod, and rolls back when that restart fails. The pod's own unit is
        # ready before any container is, so point the label at a unit that restarts the
        # containers whose image changed and succeeds only once they are healthy.
        timeout = int(spec.app.health_timeout_s)
        out[layout.user_unit(units.RESTART_SERVICE)] = UnitFile((
            section("Unit", ("Description", f"roost: restart the updated containers of {spec.name}, wait until healthy")),
            section("Service", ("Type", "oneshot"), ("ExecStart", (*roost_cmd, "restart-changed", spec.name)),
                    ("TimeoutStartSec", str(2 * timeout + 60))),
        )).render()
        # the same for each container with a namespace of its own (its unit would be restarted alone)
        redirect = UnitFile((section("Service", ("Environment", (f"PODMAN_SYSTEMD_UNIT={units.RESTART_SERVICE}",))),)).render()
        for service in auto_update_services(spec, layout):
            out[layout.user_unit(f"{service}.d/roost-auto-update.conf")] = redirect
    if spec.backup.schedule:
        out[layout.user_unit(units.BACKUP_SERVICE)] = UnitFile((
            section("Unit", ("Description", f"roost: back up app {spec.name}")),
            section("Service", ("Type", "oneshot"), ("ExecStart", (*backup, "--reason", "scheduled"))),
        )).render()
        out[layout.user_unit(units.BACKUP_TIMER)] = UnitFile((
            section("Unit", ("Description", f"roost: back up app {spec.name} ({spec.backup.schedule})")),
            section("Timer", ("OnCalendar", spec.backup.schedule), ("Persistent", "true"),
                    ("RandomizedDelaySec", "10m")),
            section("Install", ("WantedBy", "timers.target")),
        )).render()
    if spec.notify is not None:
        from roost.render import notify

        out.update(notify.user_units(spec, layout, roost_cmd))
    return out


SYSTEM_UNIT_DIR = "/etc/systemd/system"


def slice_dropin(uid: int) -> str:
    """The app's ceiling: a drop-in for its user's slice, owned by root in root's unit directory. The slice
    belongs to the system manager, so the ceiling holds whether or not controllers are delegated to the
    user's manager, and nothing the app's user runs can raise it."""
    return f"{SYSTEM_UNIT_DIR}/user-{uid}.slice.d/50-roost-limits.conf"


def render_slice_limits(spec: Spec) -> str:
    return UnitFile((section("Slice", *spec.app.limits.service_entries),),
                    header=f"# Written by roost: the ceiling of app {spec.name} (all its processes together).").render()


def render(spec: Spec, identity: Identity, env_files: dict[str, dict[str, str]] | None = None,
           spec_path: str = "", spec_text: str | None = None, roost_cmd: tuple[str, ...] = ROOST_CMD,
           notify_urls: tuple[str, ...] = ()) -> Desired:
    """notify_urls: read from the spec's notify.urls_file (secrets: stored root-only)."""
    """env_files: container -> values read from the user's `env_file` beside the spec."""
    layout = Layout(spec.name, spec.home)
    uid, gid = identity.uid, identity.gid
    env_files = env_files or {}
    dirs = [
        DirWant(spec.home, 0o750, uid, gid),
        DirWant(posixpath.join(spec.home, ".config"), 0o700, uid, gid),
        DirWant(posixpath.join(spec.home, ".config", "containers"), 0o700, uid, gid),
        DirWant(layout.unit_dir, 0o700, uid, gid),
        DirWant(posixpath.join(spec.home, ".config", "roost"), 0o700, uid, gid),
        DirWant(layout.secrets_dir, 0o700, uid, gid),
        DirWant(layout.env_dir, 0o700, uid, gid),
        DirWant(posixpath.join(spec.home, ".local"), 0o700, uid, gid),
        DirWant(posixpath.join(spec.home, ".local", "state"), 0o700, uid, gid),
        DirWant(layout.state_dir, 0o700, uid, gid),
    ]
    seen = {d.path for d in dirs}
    for c in spec.containers.values():
        for vol in c.mounts:
            path = spec.host_path(vol.source)
            # only directories under the home are ours to create; allowed outside paths must exist
            if path.startswith(spec.home + "/"):
                parts = posixpath.relpath(path, spec.home).split("/")
                for i in range(1, len(parts) + 1):
                    sub = posixpath.join(spec.home, *parts[:i])
                    if sub not in seen:
                        seen.add(sub)
                        # 0755: images drop to their own user (postgres) that must enter it
                        dirs.append(DirWant(sub, 0o755, uid, gid))
    files = [
        FileWant(layout.bashrc, BASHRC.format(name=spec.name), 0o644, uid, gid),
        # login shells (runuser -l, roost shell) read this, not .bashrc
        FileWant(posixpath.join(spec.home, ".bash_profile"), "[ -f ~/.bashrc ] && . ~/.bashrc\n", 0o644, uid, gid),
    ]
    if spec.network is not None:
        files.append(FileWant(network_file(layout), render_network(spec), 0o644, uid, gid))
    files.append(FileWant(layout.pod_file, render_pod(spec, layout), 0o644, uid, gid))
    secret_envs: list[SecretEnvWant] = []
    inputs_of: dict[str, tuple[str, ...]] = {layout.pod_service: (layout.pod_file,)}
    for name, c in sorted(spec.containers.items()):
        plain = dict(env_files.get(name, {}))
        for var, value in c.env.items():
            if SECRET_REF_RE.search(value):
                plain.pop(var, None)
                secret_envs.append(SecretEnvWant(layout.podman_secret(name, var), name, var, value))
            else:
                plain[var] = value
        inputs = [layout.container_file(name)]
        if plain:
            header = f"roost app {spec.name}, container {name}: environment (mode 0600)"
            # values may be credentials (an env_file's always could): masked in every plan
            files.append(FileWant(layout.env_file(name), render_env(plain, header), 0o600, uid, gid, sensitive=True))
            inputs.append(layout.env_file(name))
        files.append(FileWant(layout.container_file(name), render_container(spec, layout, name, c, bool(plain)), 0o644, uid, gid))
        if spec.start_first(name):  # started by `roost update` only
            files.append(FileWant(layout.container_file(next_container(name)),
                                  render_container(spec, layout, name, c, bool(plain), nxt=True), 0o644, uid, gid))
        inputs_of[layout.container_service(name)] = tuple(inputs)
    user_units = render_user_units(spec, layout, roost_cmd)
    for service in auto_update_services(spec, layout):
        dropin = layout.user_unit(f"{service}.d/roost-auto-update.conf")
        if dropin in user_units:  # the pod (the container) must be recreated for its label to change
            inputs_of[service] = (*inputs_of[service], dropin)
    for path, content in user_units.items():
        parent = posixpath.dirname(path)
        chain = [posixpath.join(spec.home, ".config", "systemd"), layout.user_unit_dir, parent]
        for d in chain:
            if d not in seen:
                seen.add(d)
                dirs.append(DirWant(d, 0o700, uid, gid))
        files.append(FileWant(path, content, 0o644, uid, gid))
    state_dirs: tuple[DirWant, ...] = (DirWant(ROOST_STATE_DIR, 0o755, 0, 0), DirWant(APPS_DIR, 0o755, 0, 0),
                                       DirWant(layout.root_dir, 0o755, 0, 0))
    state_files = [FileWant(layout.record_file, registry_record(spec, identity, spec_path), 0o644, 0, 0)]
    if spec.app.limits.service_entries:
        dropin = slice_dropin(uid)
        state_dirs = (*state_dirs, DirWant(posixpath.dirname(dropin), 0o755, 0, 0))
        state_files.append(FileWant(dropin, render_slice_limits(spec), 0o644, 0, 0))
    if spec_text is not None:
        # root's copy is the truth; the one in the home is for the app's user to read
        # 0640, the app's group: its own timers read it; other local users do not see its env values
        state_files.append(FileWant(layout.applied_spec, spec_text, 0o640, 0, gid))
        files.append(FileWant(layout.spec_copy, spec_text, 0o600, uid, gid))
    if spec.notify is not None:
        from roost.render.notify import notify_wants

        more_dirs, more_files, spool = notify_wants(spec, identity, roost_cmd, notify_urls)
        state_dirs = (*state_dirs, *more_dirs)
        state_files += more_files
        dirs.append(spool)
    return Desired(layout, identity, tuple(dirs), tuple(files), tuple(secret_envs), inputs_of, tuple(user_units),
                   state_dirs, tuple(state_files))


def registry_record(spec: Spec, identity: Identity, spec_path: str) -> str:
    layout = Layout(spec.name, spec.home)
    web = spec.web
    record = AppRecord(
        name=spec.name,
        uid=identity.uid,
        gid=identity.gid,
        subid_start=identity.subid_start,
        home=spec.home,
        spec_path=spec_path,
        spec_digest=spec.digest(),
        publish=[str(p) for p in spec.ports],
        volumes=[v for c in spec.containers.values() for v in c.volumes],  # doctor: SELinux labels
        containers=spec.start_order(),
        images=spec.images,
        pod_service=layout.pod_service,
        network=spec.name if spec.network is not None else None,  # down removes the network
        # the front door: `status` shows the URL, other apps' plans refuse these domains
        domains=list(web.domains) if web else None, url=web.url if web else None, tls=web.tls if web else None,
        notify=True if spec.notify is not None else None,  # down stops the system unit that watches its spool
    )
    return dump_record(record)
