"""`roost down`: stopping an app, and with --purge removing all roost made for it, as a plan
of actions like every other change roost makes (shown, then executed, each step audited).

Data is removed only by the purge plan, which the verb runs only after an explicit yes.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import roost.units as units
from roost.host.runner import Host
from roost.layout import SUBID_COUNT, TOMBSTONE_FILE, next_container
from roost.plan import actions as A
from roost.plan.context import Context
from roost.plan.execute import execute_plan
from roost.record import AppRecord
from roost.render.desired import Identity, slice_dropin
from roost.survivors import AppIds, kill_all
from roost.tombstone import Purged, with_entry

if TYPE_CHECKING:
    from roost.plan.context import Context


@dataclass(frozen=True)
class RememberPurged(A.Action):
    """First step of a purge: the app's IDs are not handed to another app from now on, even if
    the purge is cut short (roost's record, until removed, reserves them too)."""

    entry: Purged

    def describe(self) -> str:
        span = f" and IDs {self.entry.subid_start}-{self.entry.subid_start + self.entry.subid_count - 1}" \
            if self.entry.subid_start else ""
        return f"remember UID {self.entry.uid}, GID {self.entry.gid}{span} as purged in {TOMBSTONE_FILE}"

    def execute(self, ctx: Context) -> None:
        text = with_entry(ctx.host.read_file(TOMBSTONE_FILE), self.entry)
        ctx.host.write_file(TOMBSTONE_FILE, text, mode=0o644, uid=0, gid=0)


@dataclass(frozen=True)
class KillEveryProcess(A.Action):
    """Every process of the app's UID, GID, subordinate IDs or slice, wherever it runs; the purge
    stops (nothing after this step has run: user, ranges and record kept) if one survives."""

    name: str
    ids: AppIds
    rounds: int = 40  # x pause: how long a process that keeps forking is chased before the purge gives up
    pause: float = 0.25

    def describe(self) -> str:
        return f"kill every process of {self.ids.describe()}, inside its slice or not"

    def execute(self, ctx: Context) -> None:
        kill_all(ctx.host, self.ids, self.name, self.rounds, self.pause)


def notify_state_files(name: str) -> tuple[str, ...]:
    from roost import notify

    return notify.urls_path(name), f"{notify.state_dir(name)}/{notify.SENT_FILE}"


def plan_down(record: AppRecord, manager_running: bool, purge: bool) -> A.Plan:
    """Pure: the record of the app and whether its user manager runs -> the steps."""
    name, uid, home = record.name, record.uid, record.home
    layout = record.layout
    p = A.Plan(name)
    add = p.actions.append
    if record.domains:  # first: the front door stops sending requests to an app going away
        from roost.frontdoor.actions import RemoveSite

        add(RemoveSite(name, "the app goes down"))
    if manager_running:
        add(A.RunCommand(f"stop {record.pod_service} (every container of the pod)",
                         ("systemctl", "--user", "stop", record.pod_service), as_user=True))
    for path in [layout.pod_file, *(layout.container_file(c) for c in record.containers)]:
        add(A.RemoveFile(path, "the app's units"))
    if record.network:
        from roost.render.desired import network_file

        for c in record.containers:  # the new release of an update that was interrupted
            add(A.RemoveFile(layout.container_file(next_container(c)), "the app's units"))
        add(A.RemoveFile(network_file(layout), "the app's network"))
        if manager_running:
            # its oneshot unit stays "active" after the file goes: the next apply would not create the network again
            add(A.RunCommand(f"stop {units.network(name)}", ("systemctl", "--user", "stop", units.network(name)),
                             as_user=True))
            add(A.RunCommand(f"remove the network {record.network}",
                             ("podman", "network", "rm", "--force", "--", record.network), as_user=True, timeout=120))
    if manager_running:
        add(A.DaemonReload())
        add(A.RunCommand("forget failed units", ("systemctl", "--user", "reset-failed"), as_user=True))
    if record.notify:
        add(A.RunCommand(f"stop watching {name}'s notification spool",
                         ("systemctl", "disable", "--now", units.notify_path(name))))
    if not purge:
        return p
    start = record.subid_start
    count = SUBID_COUNT if start else 0
    add(RememberPurged(Purged(name, uid, record.gid, start, count)))
    if record.notify:  # emptied by its own user (its files); root removes the folder
        from roost import notify

        spool = notify.spool_dir(name)
        add(A.RunCommand(f"empty {spool} (as {name})", ("find", spool, "-mindepth", "1", "-delete"), as_user=True))
        add(A.RunCommand(f"remove {spool}", ("rmdir", "--", spool)))
    if manager_running:
        add(A.RunCommand("remove containers, images and podman secrets",
                         ("podman", "system", "reset", "--force"), as_user=True, timeout=300))
    # the home is emptied by its own user, in its user namespace (volume files belong to its
    # subordinate IDs); root only removes the then empty folder, whose parent is root's
    add(A.RunCommand(f"delete everything in {home} (as {name})",
                     ("podman", "unshare", "rm", "-rf", "--one-file-system", "--", home), as_user=True, timeout=600))
    add(A.RunCommand(f"disable linger for {name}", ("loginctl", "disable-linger", name)))
    # its runtime directory too, now, while the user exists: stopped by logind after userdel, the unit fails
    # (the helper cannot resolve the UID any more) and leaves systemd "degraded"
    add(A.RunCommand(f"stop user@{uid}.service and user-runtime-dir@{uid}.service",
                     ("systemctl", "stop", f"user@{uid}.service", f"user-runtime-dir@{uid}.service")))
    add(A.RunCommand(f"end {name}'s sessions and processes", ("loginctl", "terminate-user", name)))
    add(KillEveryProcess(name, AppIds(uid, record.gid, start, count)))
    if start:
        span = f"{start}-{start + SUBID_COUNT - 1}"
        add(A.RunCommand(f"give back subordinate IDs {span}",
                         ("usermod", "--del-subuids", span, "--del-subgids", span, name)))
    add(A.RunCommand(f"delete user {name}", ("userdel", name)))
    add(A.RunCommand(f"delete group {name}", ("groupdel", name)))
    add(A.RunCommand(f"forget user-runtime-dir@{uid}.service if it failed",
                     ("systemctl", "reset-failed", f"user-runtime-dir@{uid}.service")))
    # what its user could not remove (its manager recreating files meanwhile): root removes it now
    # that no process of the app is left to swap a directory for a link mid-way, and rm never
    # follows links nor leaves the home's file system
    add(A.RunCommand(f"remove {home}", ("rm", "-rf", "--one-file-system", "--", home)))
    extra = (notify_state_files(name) if record.notify else ())
    for path in (layout.pending_file, layout.secret_digests_file, layout.history_file, layout.applied_spec,
                 layout.legacy_record, layout.record_file, *extra):
        add(A.RemoveFile(path, "roost's record of the app"))
    # the app's ceiling (app.limits) is keyed by UID: the next app given this UID must not inherit it
    ceiling = slice_dropin(uid)
    add(A.RemoveFile(ceiling, "the app's ceiling"))
    add(A.RunCommand(f"remove {posixpath.dirname(ceiling)} if empty", ("rmdir", "--", posixpath.dirname(ceiling))))
    add(A.RunCommand(f"remove {layout.root_dir}", ("rmdir", "--", layout.root_dir)))
    # last: the verb holds it until it ends; a later app of that name gets a fresh one with its group
    add(A.RemoveFile(layout.lock_file, "the app's lock"))
    return p


def down(record: AppRecord, host: Host, purge: bool, ui: Any, on_action=None) -> A.Plan:
    """Stop (and with `purge`, remove) the app. Runs under the app's lock (the verb holds it)."""
    user = record.user
    manager = host.exists(f"{user.runtime_dir}/bus")
    p = plan_down(record, manager, purge)
    ctx = Context(host, record.layout,
                  Identity(record.uid, record.gid, record.subid_start), user, ui, 60.0)
    execute_plan(p.actions, ctx, on_action)
    return p
