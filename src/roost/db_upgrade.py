"""Move a PostgreSQL container to another major: dump, fresh data directory, restore, verify.

The old data directory is renamed, never deleted: the user removes it once satisfied.
Each step is recorded in a root-owned marker first (roost.upgrade_marker), so an upgrade cut
short (Ctrl-C, a power cut) is undone or finished by the next `roost db upgrade`. Work in
the app's home (reading PG_VERSION, the dump, moving the data directory) runs as the app user.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable

from roost import upgrade_marker as marker_
from roost.app import App
from roost.backup import pg_credentials, start_all, wait_for_database
from roost.errors import RoostError, UsageError
from roost.history import Outcome
from roost.host.facts import images_json
from roost.pgmajor import DEFAULT_PGDATA, pgdata_host_path, pgdata_volume, with_major
from roost.spec.beside import read_spec, write_spec
from roost.spec.load import parse_spec
from roost.spec.model import Spec, parse_duration
from roost.upgrade_marker import Marker

COUNT_SQL = (
    "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables ORDER BY 1"
)
ApplySpec = Callable[[str], None]
Say = Callable[[str], object]


def row_counts(app: App, container: str, user: str, db: str) -> dict[str, int]:
    def psql(sql: str) -> str:
        return app.podman("exec", app.container_name(container), "psql", "-At", "-U", user, "-d", db,
                          "-c", sql).stdout

    out = {}
    for table in psql(COUNT_SQL).split():
        out[table] = int(psql(f"SELECT count(*) FROM {table}").strip() or 0)
    return out


def pg_version_at(app: App, data_dir: str) -> str:
    """PG_VERSION of a data directory, read as the app user inside its user namespace (the
    container's postgres owns it). Bounded: at most 16 bytes, 30 s (a FIFO cannot hang roost)."""
    r = app.host.run(["podman", "unshare", "head", "-c", "16", "--", posixpath.join(data_dir, "PG_VERSION")],
                     user=app.user, check=False, timeout=30)
    return r.stdout.strip() if r.ok else ""


def checked_paths(app: App, container: str) -> tuple[str, str]:
    """(PGDATA on the host, the volume holding it), refused unless both are plainly inside the home."""
    c = app.spec.containers.get(container)
    if c is None or not c.is_postgres:
        raise UsageError(f"{container!r} is not a PostgreSQL container of {app.spec.name}")
    pgdata = c.env.get("PGDATA", DEFAULT_PGDATA)
    if not pgdata.startswith("/") or posixpath.normpath(pgdata) != pgdata:
        raise UsageError(f"containers.{container}.env.PGDATA: {pgdata!r} must be a normalised absolute path "
                         "(no '..', '.' or '//')", hint="fix the spec and apply it first")
    data, volume = pgdata_host_path(app.spec, container), pgdata_volume(app.spec, container)
    if not data or not volume:
        raise UsageError(f"{container}'s PGDATA is not on a volume: nothing to migrate")
    if not volume.startswith(app.spec.home.rstrip("/") + "/") or ".." in volume.split("/"):
        raise UsageError(f"containers.{container}.volumes: {volume} is not inside {app.spec.home}",
                         hint="db upgrade moves only data directories inside the app's home")
    return data, volume


def _dir_exists(app: App, path: str) -> bool:
    return app.host.run(["test", "-d", path], user=app.user, check=False).ok


def _restore_dump(app: App, container: str, dump: str) -> None:
    user, db = pg_credentials(app, container)
    r = app.host.pipe(["cat", "--", dump], ["podman", "exec", "-i", app.container_name(container), "psql", "-q",
                                            "-v", "ON_ERROR_STOP=1", "-U", user, "-d", db], user=app.user,
                      timeout=3600)
    if not r.ok:
        raise RoostError(f"restoring {dump} into {container} failed: {app.host.mask(r.stderr.strip()[-300:])}")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _recreate_database(app: App, container: str, user: str, db: str) -> None:
    """An empty database for the dump: whatever the app made of the fresh cluster in the meantime (its
    migrations on first start) must not meet the dump's own schema. From another database (FORCE:
    a connection left over cannot stop it); the new one inherits the cluster's encoding and locale."""
    other = "template1" if db == "postgres" else "postgres"
    r = app.podman("exec", app.container_name(container), "psql", "-q", "-v", "ON_ERROR_STOP=1", "-U", user,
                   "-d", other, "-c", f"DROP DATABASE IF EXISTS {_quoted(db)} WITH (FORCE)",
                   "-c", f"CREATE DATABASE {_quoted(db)} OWNER {_quoted(user)}", check=False)
    if not r.ok:
        raise RoostError(f"emptying database {db} for the restore failed: {app.host.mask(r.stderr.strip()[-300:])}")


def writers(spec: Spec, container: str) -> list[str]:
    """Every container but the database and what it needs to run: what could write into the
    database while the dump goes in (stopped until it is back)."""
    keep, grew = {container}, True
    while grew:
        needed = {n for c in keep for n in (*spec.containers[c].requires, spec.containers[c].share_network_with) if n}
        grew = not needed <= keep
        keep |= needed
    return [c for c in spec.start_order() if c not in keep]


def upgrade(app: App, container: str, to: int | None, apply_spec: ApplySpec, say: Say = print,
            undo: bool = False) -> dict | None:
    """apply_spec(path): runs `roost apply` on the rewritten spec (the pipeline, injected).

    With an interrupted upgrade on record: `undo` (or a different request, or a stop before the
    restore completed) puts the old major and data back; otherwise it is finished. Returns what
    was done, or None after an undo alone."""
    if to is None and not undo:
        raise UsageError("--to is required", hint=f"e.g. `roost db upgrade {app.spec.name} {container} --to 17`")
    pending = marker_.read(app.host, app.layout)
    if pending is not None:
        if not undo and pending.reached("restored") and (pending.container, pending.to) == (container, to):
            say(f"finishing the upgrade of {pending.container} to PostgreSQL {pending.to} that was cut short")
            return _finish(app, pending, say)
        say(f"undoing the upgrade of {pending.container} to PostgreSQL {pending.to} that stopped at "
            f"'{pending.step}'")
        _undo(app, pending, apply_spec, say)
        if undo:
            return None
        # this run loaded the spec the cut-short upgrade had applied: start again from the one now back
        app.spec = parse_spec(pending.old_spec, pending.spec_path)
    elif undo:
        raise UsageError(f"no interrupted db upgrade of {app.spec.name} to undo",
                         hint=f"the data directory kept by an upgrade that finished stays beside the volume; "
                              f"see `roost history {app.spec.name}`")
    assert to is not None
    return _start(app, container, to, apply_spec, say)


def _start(app: App, container: str, to: int, apply_spec: ApplySpec, say: Say) -> dict:
    data, volume = checked_paths(app, container)
    on_disk = pg_version_at(app, data)
    if not on_disk.isdigit():
        raise UsageError(f"no PostgreSQL data in {data}", hint="nothing to upgrade: change the tag and apply")
    if int(on_disk) == to:
        raise UsageError(f"{data} already holds PostgreSQL {to}")
    spec_path = app.record.spec_path
    old_image = app.spec.containers[container].image
    new_image = with_major(old_image, to)
    spec_file = read_spec(spec_path)
    text = spec_file.text
    if text.count(f'"{old_image}"') != 1:
        raise UsageError(f"cannot find image = \"{old_image}\" exactly once in {spec_path}",
                         hint=f"set it to {new_image} by hand is not enough: keep {old_image} until the upgrade ran")
    user, db = pg_credentials(app, container)
    say(f"counting rows in {db} (PostgreSQL {on_disk})")
    before = row_counts(app, container, user, db)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    m = Marker(container=container, from_major=int(on_disk), to=to, stamp=stamp, step="started", volume=volume,
               kept=f"{volume}.pg{on_disk}-{stamp}",
               dump=posixpath.join(app.layout.backups_dir, f"pg{on_disk}-to-{to}-{container}-{stamp}.sql"),
               spec_path=spec_path, old_spec=text, new_image=new_image, rows=before)
    marker_.write(app.host, app.layout, m)
    try:
        say("dumping")
        app.host.run(["mkdir", "-p", "-m", "0700", "--", app.layout.backups_dir], user=app.user, mutates=True)
        # --clean: the app may create its (empty) tables in the new cluster before the restore runs
        r = app.host.pipe(["podman", "exec", app.container_name(container), "pg_dump", "-U", user, "-d", db,
                           "--no-owner", "--clean", "--if-exists"],
                          ["dd", f"of={m.dump}", "conv=excl", "status=none", "bs=1M"], user=app.user, timeout=3600)
        if not r.ok:
            raise RoostError(f"the dump failed: {app.host.mask(r.stderr.strip()[-300:])}")
        marker_.step(app.host, app.layout, m, "dumped")
        say(f"stopping {app.spec.name}")
        app.systemctl("stop", app.layout.pod_service, mutates=True, timeout=300)
        marker_.step(app.host, app.layout, m, "stopped")
        app.host.run(["mv", "-T", "--", volume, m.kept], user=app.user, mutates=True)
        marker_.step(app.host, app.layout, m, "moved")
        say(f"old data kept in {m.kept}")
        write_spec(spec_path, text.replace(f'"{old_image}"', f'"{new_image}"'), spec_file)
        marker_.step(app.host, app.layout, m, "spec-written")
        apply_spec(spec_path)
        # the app started on the empty cluster (its migrations may have run): stopped until its data is back
        if others := [app.service(c) for c in writers(app.spec, container)]:
            say(f"stopping {', '.join(others)} until the data is back")
            app.systemctl("stop", *others, mutates=True, timeout=300)
        wait_for_database(app, container, user, db, parse_duration(app.spec.app.health_timeout), say)
        _recreate_database(app, container, user, db)
        say(f"restoring into PostgreSQL {to}")
        _restore_dump(app, container, m.dump)
        marker_.step(app.host, app.layout, m, "restored")
    except BaseException:  # Ctrl-C included: put everything back as it was
        say(f"[red]upgrade failed[/]: putting back PostgreSQL {on_disk} and its data")
        _undo(app, m, apply_spec, say)
        raise
    return _finish(app, m, say)


def _finish(app: App, m: Marker, say: Say) -> dict:
    """Rows counted before the app writes again, then the app started (also after a failed count:
    the data stays, the old directory is kept)."""
    try:
        return _verify(app, m)
    finally:
        say(f"starting {app.spec.name}")
        start_all(app, parse_duration(app.spec.app.health_timeout), "after the upgrade")


def _verify(app: App, m: Marker) -> dict:
    user, db = pg_credentials(app, m.container)
    after = row_counts(app, m.container, user, db)
    marker_.clear(app.host, app.layout)
    if after != m.rows:
        diff = {t: (m.rows.get(t), after.get(t)) for t in set(m.rows) | set(after) if m.rows.get(t) != after.get(t)}
        raise RoostError(f"row counts differ after the restore: {diff}", hint=f"the old data is kept in {m.kept}")
    return {"from": m.from_major, "to": m.to, "tables": len(after), "rows": sum(after.values()), "kept": m.kept,
            "dump": m.dump, "image": m.new_image}


def _undo(app: App, m: Marker, apply_spec: ApplySpec, say: Say) -> None:
    """Old spec, old data directory, app running on it. Safe to run again if it is cut short too:
    it looks at what is on disk, not at which step was recorded."""
    now = read_spec(m.spec_path)
    if now.text != m.old_spec:
        write_spec(m.spec_path, m.old_spec, now)
    app.systemctl("stop", app.layout.pod_service, mutates=True, check=False, timeout=300)
    if _dir_exists(app, m.kept):
        if _dir_exists(app, m.volume):
            app.host.run(["mv", "-T", "--", m.volume, f"{m.volume}.failed-pg{m.to}-{m.stamp}"], user=app.user,
                         mutates=True)
        app.host.run(["mv", "-T", "--", m.kept, m.volume], user=app.user, mutates=True)
    # the old data is back: a dump of it is of no further use, and a retry writes its own
    app.host.run(["rm", "-f", "--", m.dump], user=app.user, mutates=True, check=False)
    apply_spec(m.spec_path)
    marker_.clear(app.host, app.layout)
    say(f"back on PostgreSQL {m.from_major} with its data")


def upgrade_recorded(app: App, container: str, to: int | None, apply_spec: ApplySpec, say: Say = print,
                     undo: bool = False) -> dict | None:
    """`roost db upgrade`, recorded in the history whatever the outcome (None: undone)."""
    result: Outcome = "failed"
    try:
        info = upgrade(app, container, to, apply_spec, say=say, undo=undo)
        result = "undone" if info is None else "ok"
        return info
    finally:
        app.record_history("db-upgrade", result, container=container, to=to, images=images_json(app.running_images()))
