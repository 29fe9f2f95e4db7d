"""Move a PostgreSQL container to another major: dump, fresh data directory, restore, verify.

The old data directory is renamed, never deleted: the user removes it once satisfied.
"""

from __future__ import annotations

import posixpath
import time
from pathlib import Path

from roost.app import App
from roost.backup import pg_credentials
from roost.errors import RoostError, UsageError
from roost.pgmajor import pgdata_host_path, pgdata_volume, with_major

COUNT_SQL = (
    "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables ORDER BY 1"
)


def row_counts(app: App, container: str, user: str, db: str) -> dict[str, int]:
    def psql(sql: str) -> str:
        return app.podman("exec", app.container_name(container), "psql", "-At", "-U", user, "-d", db,
                          "-c", sql).stdout

    out = {}
    for table in psql(COUNT_SQL).split():
        out[table] = int(psql(f"SELECT count(*) FROM {table}").strip() or 0)
    return out


def upgrade(app: App, container: str, to: int, apply_spec, say=print) -> dict:
    """apply_spec(path): runs `roost apply` on the rewritten spec (the pipeline, injected)."""
    c = app.spec.containers.get(container)
    if c is None or not c.is_postgres:
        raise UsageError(f"{container!r} is not a PostgreSQL container of {app.spec.name}")
    data, volume = pgdata_host_path(app.spec, container), pgdata_volume(app.spec, container)
    if not data or not volume:
        raise UsageError(f"{container}'s PGDATA is not on a volume: nothing to migrate")
    on_disk = (app.host.read_file(posixpath.join(data, "PG_VERSION")) or "").strip()
    if not on_disk.isdigit():
        raise UsageError(f"no PostgreSQL data in {data}", hint="nothing to upgrade: change the tag and apply")
    if int(on_disk) == to:
        raise UsageError(f"{data} already holds PostgreSQL {to}")
    spec_path = app.record["spec_path"]
    old_image, new_image = c.image, with_major(c.image, to)
    text = Path(spec_path).read_text()
    if text.count(f'"{old_image}"') != 1:
        raise UsageError(f"cannot find image = \"{old_image}\" exactly once in {spec_path}",
                         hint=f"set it to {new_image} by hand is not enough: keep {old_image} until the upgrade ran")
    user, db = pg_credentials(app, container)
    say(f"counting rows in {db} (PostgreSQL {on_disk})")
    before = row_counts(app, container, user, db)
    say("dumping")
    # --clean: the app may create its (empty) tables in the new cluster before the restore runs
    dump = app.podman("exec", app.container_name(container), "pg_dump", "-U", user, "-d", db, "--no-owner",
                      "--clean", "--if-exists", timeout=3600).stdout
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dump_path = posixpath.join(app.layout.backups_dir, f"pg{on_disk}-to-{to}-{container}-{stamp}.sql")
    app.host.run(["mkdir", "-p", "-m", "0700", app.layout.backups_dir], user=app.user, mutates=True)
    app.host.write_file(dump_path, dump, mode=0o600, uid=app.record["uid"], gid=app.record["gid"])
    say(f"stopping {app.spec.name}")
    app.systemctl("stop", app.layout.pod_service, mutates=True, timeout=300)
    kept = f"{volume}.pg{on_disk}-{stamp}"
    app.host.run(["mv", "--", volume, kept], mutates=True)
    say(f"old data kept in {kept}")
    new_text = text.replace(f'"{old_image}"', f'"{new_image}"')
    Path(spec_path).write_text(new_text)
    try:
        apply_spec(spec_path)
        say(f"restoring into PostgreSQL {to}")
        app.podman("exec", "-i", app.container_name(container), "psql", "-q", "-v", "ON_ERROR_STOP=1", "-U", user,
                   "-d", db, mutates=True, stdin=dump, timeout=3600)
        after = row_counts(app, container, user, db)
    except Exception:
        # put everything back as it was: old spec, old data directory, app running on it
        say(f"[red]upgrade failed[/]: putting back PostgreSQL {on_disk} and its data")
        Path(spec_path).write_text(text)
        app.systemctl("stop", app.layout.pod_service, mutates=True, check=False, timeout=300)
        app.host.run(["mv", "--", volume, f"{volume}.failed-pg{to}-{stamp}"], mutates=True, check=False)
        app.host.run(["mv", "--", kept, volume], mutates=True)
        apply_spec(spec_path)
        raise
    if after != before:
        diff = {t: (before.get(t), after.get(t)) for t in set(before) | set(after) if before.get(t) != after.get(t)}
        raise RoostError(f"row counts differ after the restore: {diff}", hint=f"the old data is kept in {kept}")
    return {"from": int(on_disk), "to": to, "tables": len(after), "rows": sum(after.values()), "kept": kept,
            "dump": dump_path, "image": new_image}
