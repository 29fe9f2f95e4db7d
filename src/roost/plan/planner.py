"""(Spec, host facts) -> Plan. Pure: no I/O, so every case is a table-driven unit test."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

import roost.units as units
from roost.errors import UsageError
from roost.frontdoor import plan as frontdoor
from roost.frontdoor.state import FrontFacts
from roost.host.facts import AppFacts, SystemFacts
from roost.host.parse import normalize_image
from roost.layout import SUBID_COUNT
from roost.plan import actions as A
from roost.render.desired import Desired, FileWant, secret_digest, slice_dropin
from roost.spec.model import Spec

MIN_PODMAN = (5, 0)


@dataclass(frozen=True)
class Inputs:
    spec: Spec
    system: SystemFacts
    desired: Desired
    app: AppFacts
    front: FrontFacts = field(default_factory=FrontFacts)


def _write_files(p: A.Plan, wants: tuple[FileWant, ...], app: AppFacts) -> set[str]:
    """WriteFile for each file whose content, mode or owner differs; the paths whose content changed."""
    changed = set()
    for f in wants:
        old, st = app.files.get(f.path, (None, None))
        if old != f.content:
            p.actions.append(A.WriteFile(f, old))
            changed.add(f.path)
        elif st is None or st.mode != f.mode or st.uid != f.uid or st.gid != f.gid:
            p.actions.append(A.WriteFile(f, old, content_changed=False))
    return changed


def plan(inp: Inputs) -> A.Plan:
    spec, system, desired, app = inp.spec, inp.system, inp.desired, inp.app
    layout, ident = desired.layout, desired.identity
    p = A.Plan(spec.name)
    add, note = p.actions.append, p.notes.append

    for name in sorted(spec.required()):
        if spec.containers[name].health is None:
            dependants = ", ".join(n for n, c in sorted(spec.containers.items()) if name in c.requires)
            note(f"warning: {name} has no health check, so {dependants} may start before it is ready "
                 f"(add `health` to containers.{name})")

    # 1. host prerequisites
    if system.missing_packages:
        if not system.package_manager:
            raise UsageError(f"missing {', '.join(system.missing_packages)} and no apt-get or dnf to install them",
                             hint="install podman >= 5.0, passt, uidmap and catatonit, then run roost again")
        add(A.InstallPackages(system.package_manager, system.missing_packages))
    elif system.podman_version is not None and system.podman_version[:2] < MIN_PODMAN:
        have = ".".join(map(str, system.podman_version))
        raise UsageError(f"podman {have} is too old: roost needs podman >= 5.0 (for Quadlet .pod units and Notify=healthy)",
                         hint="upgrade the host (Debian 13, Ubuntu 24.10+, Fedora 40+ ship podman 5)")
    else:
        note(f"podman {'.'.join(map(str, system.podman_version or ()))} and its helpers are installed")

    # 2. root's record of the app first (it marks the user, group and range as roost's), then
    # group, user, subordinate ranges, linger
    state_make = [d for d in desired.state_dirs if (st := app.dirs.get(d.path)) is None
                  or (st.mode, st.uid, st.gid) != (d.mode, d.uid, d.gid)]
    if state_make:
        add(A.MakeDirs(tuple(state_make), tuple(d.path for d in state_make if app.dirs.get(d.path) is not None)))
    changed_state = _write_files(p, desired.state_files, app)
    ceiling = slice_dropin(ident.uid)  # the app's ceiling: written above, or removed here
    if ceiling not in changed_state and app.files.get(ceiling, (None, None))[0] is not None and \
            not any(f.path == ceiling for f in desired.state_files):
        add(A.RemoveFile(ceiling, "the spec sets no app.limits"))
        changed_state.add(ceiling)
    if ceiling in changed_state:
        add(A.SystemReload(f"app.limits of {spec.name}"))
    if app.files.get(layout.legacy_record, (None, None))[1] is not None:
        add(A.RemoveFile(layout.legacy_record, f"the record now lives in {layout.record_file}"))
    user_exists = spec.name in system.users
    if spec.name not in system.groups:
        add(A.CreateGroup(spec.name, ident.gid))
    parent = spec.home.rsplit("/", 1)[0] or "/"
    if not user_exists:
        if parent not in app.dirs or app.dirs[parent] is None:
            add(A.MakeDir(A.DirWant(parent, 0o755, 0, 0)))
        add(A.CreateUser(spec.name, ident.uid, ident.gid, spec.home))
    else:
        note(f"user {spec.name} exists (UID {ident.uid})")
    has_uids = any(r.owner == spec.name and r.start == ident.subid_start for r in system.subuids)
    has_gids = any(r.owner == spec.name and r.start == ident.subid_start for r in system.subgids)
    if not (has_uids and has_gids):
        add(A.AddSubIds(spec.name, ident.subid_start, SUBID_COUNT, uids=not has_uids, gids=not has_gids))

    # 3. directories (volume directories are only created: the container may chown them later)
    volume_dirs = {spec.host_path(v.source) for c in spec.containers.values() for v in c.mounts}
    for path, st in [*app.dirs.items(), *((p, st) for p, (_, st) in app.files.items())]:
        if st is not None and st.is_link:
            raise UsageError(f"{path} is a symbolic link: roost will not follow it (a volume or file of the app "
                             "could be pointed outside its home)", hint=f"remove the link ({path}) and apply again")
    make, fix = [], []
    for d in desired.dirs:
        st = app.dirs.get(d.path)
        if st is None:
            make.append(d)
        elif d.path not in volume_dirs and (st.mode != d.mode or st.uid != d.uid or st.gid != d.gid):
            make.append(d)
            fix.append(d.path)
    if make:
        add(A.MakeDirs(tuple(make), tuple(fix)))

    if spec.name not in system.linger:
        add(A.EnableLinger(spec.name, ident.uid))
    elif not app.manager_running:
        add(A.StartUserManager(ident.uid))

    # 4. secrets: generated once, then kept
    for name, s in sorted(spec.generated_secrets().items()):
        if name not in app.secrets:
            add(A.GenerateSecret(name, s.generate, layout.secret_file(name), ident.uid, ident.gid))

    # 5. files: changed content or wrong mode/owner
    changed_files = _write_files(p, desired.files, app)

    # podman secrets for env values that mention secrets
    changed_secret_units: set[str] = set()
    for want in desired.secret_envs:
        value = want.resolve(app.secrets)
        exists = want.name in app.podman_secrets
        if value is None or not exists or app.secret_digests.get(want.name) != secret_digest(value):
            add(A.PutPodmanSecret(want, replace=exists))
            changed_secret_units.add(layout.container_service(want.container))

    # 6. reload, pull, (re)start
    unit_files = {f.path for f in desired.files if posixpath.dirname(f.path) == layout.unit_dir} | set(desired.user_units)
    unit_missing = any(app.units.get(u) is None or app.units[u].load != "loaded" for u in desired.units)
    daemon_reload = (
        bool(changed_files & unit_files)
        or app.pending.daemon_reload
        or (app.manager_running and (unit_missing or any(u.need_reload for u in app.units.values())))
    )

    restart: set[str] = set(app.pending.restart) | changed_secret_units
    for service, inputs in desired.units.items():
        if changed_files & set(inputs):
            restart.add(service)
    pod_restart = layout.pod_service in restart
    state = {u: app.units.get(u) for u in desired.units}
    pod_active = (u := state[layout.pod_service]) is not None and u.active == "active"
    if not pod_active:
        restart.clear()  # a start runs everything with the new inputs

    if restart or daemon_reload:
        add(A.MarkPending(daemon_reload, tuple(sorted(restart))))
    if daemon_reload:
        add(A.DaemonReload())

    present = {i.ref for i in app.images}
    digests = {i.digest for i in app.images}
    for image in sorted({c.image for c in spec.containers.values()}):
        pinned = image.split("@", 1)[1] if "@" in image else None
        if (pinned not in digests) if pinned else (normalize_image(image) not in present and image not in present):
            add(A.PullImage(image))

    every = (layout.pod_service, *(layout.container_service(c) for c in spec.start_order()))
    if not pod_active or pod_restart:  # the pod's port is (or becomes) free: its site answers 503 first
        p.actions += frontdoor.before_pod_stop(spec, inp.front)
    if not pod_active:
        add(A.StartUnits(every, reason="each container waits until healthy"))
    elif pod_restart:
        add(A.StartUnits(every, restart=True, reason="the pod's unit changed: every container restarts"))
    else:
        inactive = [layout.container_service(c) for c in spec.start_order()
                    if (u := state[layout.container_service(c)]) is None or u.active != "active"]
        again = [layout.container_service(c) for c in spec.start_order() if layout.container_service(c) in restart]
        if again:
            add(A.StartUnits(tuple(again), restart=True, reason="their inputs changed"))
        rest = [u for u in inactive if u not in again]
        if rest:
            add(A.StartUnits(tuple(rest), reason="not running"))
        if not again and not rest:
            note("every unit is running with its current inputs")
    if restart or daemon_reload:
        add(A.ClearPending())

    timers = []
    if any(c.auto_update for c in spec.containers.values()):
        timers.append(units.AUTO_UPDATE_TIMER)
    if spec.backup.schedule:
        timers.append(units.BACKUP_TIMER)
    for timer in timers:
        unit = app.units.get(timer)
        if timer not in app.enabled_timers or unit is None or unit.active != "active":
            add(A.EnableTimer(timer))

    # 7. the front door, once the app answers behind it
    p.actions += frontdoor.actions(spec, inp.front, system.package_manager,
                                   restart_pod=(not pod_active or pod_restart) and inp.front.site is not None)
    if spec.notify is not None:
        from roost.render.notify import SYSTEM_DIR

        reload = any(path.startswith(SYSTEM_DIR + "/") for path in changed_state)
        if reload or not app.notify_active:
            add(A.EnableNotify(spec.name, reload))
    return p
