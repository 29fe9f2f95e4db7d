"""Safe image updates: back up, pull, restart in dependency order, wait until healthy, and put
the previous images back if anything fails. Rollback to an earlier applied state as well."""

from __future__ import annotations

import json
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Literal

from roost import backup, release
from roost.app import App
from roost.db_upgrade import pg_version_at
from roost.errors import RoostError, UsageError
from roost.history import Action
from roost.host.facts import RunningImage, images_json
from roost.pgmajor import pgdata_host_path
from roost.spec.model import parse_duration
from roost.upgrade_marker import refuse_if_interrupted

KEEP_REPO = "localhost/roost-keep"  # tags that stop earlier images from being pruned


Outcome = Literal["updated", "current", "rolled-back", "failed"]


@dataclass
class Report:
    result: Outcome
    before: dict[str, RunningImage] = field(default_factory=dict)
    after: dict[str, RunningImage] = field(default_factory=dict)
    # container -> the image the update started (after a rollback, `after` is what was
    # restored, so the image that failed is only known from here)
    tried: dict[str, RunningImage] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    backup: str | None = None
    seconds_to_healthy: float | None = None
    rollback_seconds: float | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, [], {})}


def check(app: App) -> list[dict]:
    """What an update would change, asked from the registries without pulling."""
    r = app.podman("auto-update", "--dry-run", "--format", "json", check=False, timeout=600)
    if not r.ok:
        raise RoostError(f"could not ask the registries: {r.stderr.strip()}")
    mine = {app.container_name(c) for c in app.spec.containers}
    rows = [row for row in json.loads(r.stdout or "[]") if row.get("ContainerName") in mine]
    for c in app.spec.containers:
        if not app.spec.containers[c].auto_update:
            rows.append({"ContainerName": app.container_name(c), "Image": app.spec.containers[c].image,
                         "Updated": "not checked: no auto_update policy in the spec"})
    return rows


def _pg_major_of_image(app: App, image_id: str) -> int | None:
    r = app.podman("image", "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", image_id, check=False)
    for line in r.stdout.splitlines():
        if line.startswith("PG_MAJOR="):
            value = line.split("=", 1)[1].strip()
            return int(value) if value.isdigit() else None
    return None


def image_digest(app: App, image_id: str) -> str:
    r = app.podman("image", "inspect", "--format", "{{.Digest}}", image_id, check=False)
    return r.stdout.strip() if r.ok else ""


def _tried(app: App, containers: list[str], ids: dict[str, str | None]) -> dict[str, RunningImage]:
    """container -> the new image it was restarted on (ids: image reference -> local image id)."""
    out = {}
    for c in containers:
        ref = app.spec.containers[c].image
        image_id = ids.get(ref) or ""
        out[c] = RunningImage(ref, image_id, image_digest(app, image_id) if image_id else "")
    return out


def _keep(app: App, container: str, image_id: str) -> None:
    app.podman("tag", image_id, f"{KEEP_REPO}/{app.spec.name}-{container}:{image_id[:12]}", mutates=True)


def _point(app: App, container: str, image_id: str) -> None:
    """Make the container's image reference name `image_id` again (what its unit runs)."""
    app.podman("tag", image_id, app.spec.containers[container].image, mutates=True)


def update(app: App, say=print, status=None) -> Report:
    refuse_if_interrupted(app)
    timeout = parse_duration(app.spec.app.health_timeout)
    before = app.running_images()
    report = Report("current", before=before)
    report.backup = backup.take(app, reason="pre-update")
    say(f"backup taken: {report.backup}")
    new_ids: dict[str, str] = {}
    for image in sorted({c.image for c in app.spec.containers.values()}):
        ctx = status(f"pulling {image}") if status else nullcontext()
        with ctx:
            r = app.podman("pull", "--quiet", image, mutates=True, check=False, timeout=1800)
        if not r.ok:
            raise RoostError(f"pull of {image} failed: {r.stderr.strip()[-300:]}", hint="nothing was restarted")
        new_ids[image] = app.local_image_id(image) or ""
    changed = [c for c in app.spec.start_order()
               if c in before and new_ids[app.spec.containers[c].image] != before[c].id]
    report.changed = changed
    if not changed:
        say("every container already runs the newest image")
        return report
    report.tried = _tried(app, changed, dict(new_ids))
    # PostgreSQL must not jump majors under an existing data directory
    for c in changed:
        data = pgdata_host_path(app.spec, c) if app.spec.containers[c].is_postgres else None
        on_disk = pg_version_at(app, data) if data else ""
        new_major = _pg_major_of_image(app, new_ids[app.spec.containers[c].image])
        if on_disk.isdigit() and new_major and new_major != int(on_disk):
            _point(app, c, before[c].id)
            raise UsageError(
                f"the new image of {c} is PostgreSQL {new_major}, its data directory is PostgreSQL {on_disk}: refused",
                hint=f"pin the tag to {on_disk}, or migrate with `roost db upgrade {app.spec.name} {c} --to {new_major}`")
    for c in changed:
        _keep(app, c, before[c].id)
    first = [c for c in changed if app.spec.web is not None and app.spec.start_first(c)]
    started = time.monotonic()
    if first:  # the new release beside the old one; only what is left stops first
        from roost.frontdoor import switch

        ok, why = switch.update_start_first(app, first, lambda c: _point(app, c, before[c].id), say, status)
        if not ok:
            report.error = why
            for c in changed:
                _point(app, c, before[c].id)
            report.result, report.after = "rolled-back", app.running_images()
            say(f"[red]update failed[/]: {why}; the previous release kept serving")
            return report
        changed = [c for c in changed if c not in first]
        if not changed:
            report.result, report.seconds_to_healthy = "updated", round(time.monotonic() - started, 2)
            report.after = app.running_images()
            return report
    services = [app.service(c) for c in changed]
    say(f"restarting {', '.join(services)} and waiting until healthy")
    ok, why = _restart_and_check(app, services, timeout, status)
    if ok:
        report.result, report.seconds_to_healthy = "updated", round(time.monotonic() - started, 2)
        report.after = app.running_images()
        return report
    report.error = why
    say(f"[red]update failed[/]: {why}; rolling back to the previous images")
    rb_started = time.monotonic()
    for c in changed:
        _point(app, c, before[c].id)
    ok, why2 = _restart_and_check(app, services, timeout, status)
    report.rollback_seconds = round(time.monotonic() - rb_started, 2)
    report.after = app.running_images()
    report.result = "rolled-back" if ok else "failed"
    if not ok:
        report.error = f"{why}; the rollback failed too: {why2}"
    return report


def _restart_and_check(app: App, services: list[str], timeout: float, status) -> tuple[bool, str]:
    """Restart and gate (roost.release): a broken release fails as soon as its health check's retries
    are spent or its container exits, not after the whole timeout."""
    ctx = status("waiting until healthy") if status else nullcontext()
    by_unit = {app.service(c): c for c in app.spec.containers}
    with ctx:
        ok, why = release.start_and_gate(app, {s: by_unit[s] for s in services})
    if not ok:
        return False, why
    return app.healthy()


def rollback(app: App, to: int | None, say=print, status=None) -> Report:
    """Go back to the images of an earlier successful entry of the history (1-based index)."""
    history = app.history()
    now = app.running_images()
    candidates = [(i, e) for i, e in enumerate(history, 1) if e.get("result") in ("ok", "updated") and e.get("images")]
    if to is not None:
        chosen = next(((i, e) for i, e in candidates if i == to), None)
        if chosen is None:
            raise UsageError(f"history entry {to} of {app.spec.name} is not a successful state with images",
                             hint=f"`roost history {app.spec.name}` shows the entries")
    else:
        older = [(i, e) for i, e in candidates
                 if any(v.get("id") != (now[c].id if c in now else None) for c, v in e["images"].items())]
        if not older:
            raise UsageError("no earlier state with other images in the history", hint="nothing to roll back to")
        chosen = older[-1]
    index, entry = chosen
    report = Report("current", before=now)
    targets = {c: v["id"] for c, v in entry["images"].items() if c in app.spec.containers and v.get("id")}
    changed = [c for c in app.spec.start_order() if c in targets and targets[c] != (now[c].id if c in now else None)]
    report.changed = changed
    if not changed:
        return report
    missing = [c for c in changed if not app.podman("image", "exists", targets[c], check=False).ok]
    if missing:
        raise RoostError(f"the images of entry {index} for {', '.join(missing)} are no longer on this host")
    for c in changed:
        if c in now:
            _keep(app, c, now[c].id)
        _point(app, c, targets[c])
    services = [app.service(c) for c in changed]
    say(f"rolling back {', '.join(changed)} to history entry {index} and waiting until healthy")
    started = time.monotonic()
    ok, why = _restart_and_check(app, services, parse_duration(app.spec.app.health_timeout), status)
    report.rollback_seconds = round(time.monotonic() - started, 2)
    report.after = app.running_images()
    report.result = "rolled-back" if ok else "failed"
    report.error = None if ok else why
    return report


def restart_changed(app: App) -> Report:
    """Restart the containers whose image reference now names another image than the one
    they run, in dependency order, and wait until healthy. podman auto-update calls this
    (through roost-restart.service) after pulling, and again after re-tagging on rollback."""
    running = app.running_images()
    report = Report("current", before=running)
    ids = {image: app.local_image_id(image) for image in {c.image for c in app.spec.containers.values()}}
    states = app.unit_states()
    # changed image, or not running at all (a failed restart before a rollback leaves it so)
    report.changed = [c for c in app.spec.start_order()
                      if (c in running and ids[app.spec.containers[c].image] not in (None, running[c].id))
                      or (st := states.get(app.service(c))) is None or st.active != "active"]
    if not report.changed:
        return report
    new = [c for c in report.changed if c in running and ids[app.spec.containers[c].image] not in (None, running[c].id)]
    report.tried = _tried(app, new, dict(ids))
    started = time.monotonic()
    # behind the front door, as `roost update` does: the new release beside the old one, the site switched
    # by root's watcher at the app's request; a release that never gets healthy never took a request
    first = [c for c in new if app.spec.web is not None and app.spec.start_first(c)]
    ok, why = True, ""
    if first:
        from roost.frontdoor import switch

        ok, why = switch.update_start_first(app, first, lambda c: _point(app, c, running[c].id), print,
                                            point=switch.ask_door)
    rest = [c for c in report.changed if c not in first]
    if ok and rest:
        ok, why = _restart_and_check(app, [app.service(c) for c in rest],
                                     parse_duration(app.spec.app.health_timeout), None)
    report.after = app.running_images()
    report.result = "updated" if ok else "failed"
    report.seconds_to_healthy = round(time.monotonic() - started, 2) if ok else None
    report.error = None if ok else why
    return report


def record(app: App, action: Action, report: Report) -> str | None:
    """The history entry of an update, rollback or auto-update, and the notification a failed
    update sends. Returns what the notification said (None when none was sent)."""
    fields = report.to_dict()
    del fields["result"]
    app.record_history(action, report.result, **{**fields, "images": images_json(report.after or report.before)})
    if action == "update" and report.result in ("rolled-back", "failed") and app.spec.notify is not None:
        from roost import notify

        return notify.emit_for_update(app, report)
    return None
