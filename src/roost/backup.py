"""Backups of one app: logical dumps of its PostgreSQL containers, tars of its other volumes
taken inside the user namespace (so ownership survives), the spec, image digests, secrets.

Everything runs as the app user (directly, or through runuser when roost runs as root), so
the app's own nightly timer can take backups too. Archives are 0600 in <home>/backups.
"""

from __future__ import annotations

import json
import posixpath
import time
from dataclasses import dataclass

from roost.app import App
from roost.errors import RoostError, UsageError
from roost.pgmajor import pgdata_volume

ARCHIVE_SUFFIX = ".tar.gz"


@dataclass(frozen=True)
class BackupInfo:
    name: str
    path: str
    size: int
    created: str
    reason: str


def pg_credentials(app: App, container: str) -> tuple[str, str]:
    env = app.spec.containers[container].env
    user = env.get("POSTGRES_USER", "postgres")
    return user, env.get("POSTGRES_DB", user)


def volume_plan(app: App) -> tuple[dict[str, str], list[str]]:
    """(volume key -> host dir to tar, PostgreSQL containers to dump). A PostgreSQL data
    directory is backed up by its logical dump, never by copying live files."""
    pg_volumes = {n: v for n, c in app.spec.containers.items() if c.is_postgres and (v := pgdata_volume(app.spec, n))}
    tars = {}
    for name in app.spec.start_order():
        for vol in app.spec.containers[name].mounts:
            host = app.spec.host_path(vol.source)
            if host not in pg_volumes.values() and host.startswith(app.spec.home + "/"):
                tars[posixpath.relpath(host, app.spec.home).replace("/", "__")] = host
    return tars, list(pg_volumes)


def _user_run(app: App, argv: list[str], **kw):
    return app.host.run(argv, user=app.user, mutates=True, **kw)


def take(app: App, reason: str = "manual") -> str:
    """Write one archive; returns its path. Prunes to backup.keep afterwards."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = f"{app.spec.name}-{stamp}"
    backups = app.layout.backups_dir
    staging = posixpath.join(backups, f".{name}")
    _user_run(app, ["mkdir", "-p", "-m", "0700", backups, staging])
    try:
        tars, pg = volume_plan(app)
        manifest = {"app": app.spec.name, "created": stamp, "reason": reason, "volumes": tars,
                    "databases": {}, "images": app.running_images()}
        for container in pg:
            user, db = pg_credentials(app, container)
            dump = app.podman("exec", app.container_name(container), "pg_dump", "-U", user, "-d", db,
                              "--clean", "--if-exists", "--no-owner", timeout=3600)
            _write(app, posixpath.join(staging, f"db-{container}.sql"), dump.stdout)
            manifest["databases"][container] = {"user": user, "db": db, "file": f"db-{container}.sql"}
        for key, host_dir in tars.items():
            if app.host.exists(host_dir):
                # inside the user namespace, files owned by the container's users stay theirs
                _user_run(app, ["podman", "unshare", "tar", "--numeric-owner", "-C", host_dir, "-cpf",
                                posixpath.join(staging, f"vol-{key}.tar"), "."], timeout=3600)
        _user_run(app, ["cp", "-p", app.layout.spec_copy, posixpath.join(staging, "spec.toml")])
        if app.host.exists(app.layout.secrets_dir):
            _user_run(app, ["cp", "-rp", app.layout.secrets_dir, posixpath.join(staging, "secrets")])
        _write(app, posixpath.join(staging, "manifest.json"), json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        archive = posixpath.join(backups, name + ARCHIVE_SUFFIX)
        _user_run(app, ["tar", "-C", staging, "-czf", archive, "."], timeout=3600)
        _user_run(app, ["chmod", "0600", archive])
    finally:
        _user_run(app, ["rm", "-rf", "--", staging], check=False)
    prune(app, app.spec.backup.keep)
    return archive


def _write(app: App, path: str, content: str) -> None:
    app.host.write_file(path, content, mode=0o600, uid=app.record["uid"], gid=app.record["gid"])


def listing(app: App) -> list[BackupInfo]:
    r = app.host.run(["find", app.layout.backups_dir, "-maxdepth", "1", "-name", f"*{ARCHIVE_SUFFIX}",
                      "-printf", "%f %s\n"], user=app.user, check=False)
    out = []
    for line in sorted(r.stdout.splitlines()):
        fname, size = line.rsplit(" ", 1)
        stamp = fname.removesuffix(ARCHIVE_SUFFIX).rsplit("-", 1)[-1]
        out.append(BackupInfo(fname.removesuffix(ARCHIVE_SUFFIX), posixpath.join(app.layout.backups_dir, fname),
                              int(size), stamp, ""))
    return out


def prune(app: App, keep: int) -> list[str]:
    old = listing(app)[:-keep] if keep > 0 else []
    for b in old:
        _user_run(app, ["rm", "-f", "--", b.path])
    return [b.name for b in old]


def find(app: App, name: str) -> BackupInfo:
    for b in listing(app):
        if name in (b.name, b.path, b.name + ARCHIVE_SUFFIX):
            return b
    known = ", ".join(b.name for b in listing(app)) or "none yet"
    raise UsageError(f"no backup {name!r} of app {app.spec.name} (backups: {known})",
                     hint=f"`roost backups {app.spec.name}` lists them")


def restore(app: App, name: str, say=print) -> None:
    """Stop the app, put volumes and databases back as they were in the archive, start, wait healthy."""
    b = find(app, name)
    staging = posixpath.join(app.layout.backups_dir, f".restore-{b.name}")
    _user_run(app, ["rm", "-rf", "--", staging], check=False)
    _user_run(app, ["mkdir", "-p", "-m", "0700", staging])
    try:
        _user_run(app, ["tar", "-C", staging, "-xzf", b.path], timeout=3600)
        manifest = json.loads(app.host.read_file(posixpath.join(staging, "manifest.json")) or "{}")
        timeout = _health_timeout(app)
        say(f"stopping {app.layout.pod_service}")
        app.systemctl("stop", app.layout.pod_service, mutates=True, timeout=300)
        for key, host_dir in manifest.get("volumes", {}).items():
            tar = posixpath.join(staging, f"vol-{key}.tar")
            if not app.host.exists(tar):
                continue
            say(f"restoring {host_dir}")
            _user_run(app, ["mkdir", "-p", host_dir])
            _user_run(app, ["podman", "unshare", "find", host_dir, "-mindepth", "1", "-delete"])
            _user_run(app, ["podman", "unshare", "tar", "--numeric-owner", "-C", host_dir, "-xpf", tar], timeout=3600)
        if app.host.exists(posixpath.join(staging, "secrets")):
            for sname in app.spec.secrets:
                if not app.host.exists(app.layout.secret_file(sname)):
                    _user_run(app, ["cp", "-p", posixpath.join(staging, "secrets", sname), app.layout.secret_file(sname)])
        databases = manifest.get("databases", {})
        for container in databases:  # a deleted data volume comes back empty: the server starts afresh
            volume = pgdata_volume(app.spec, container)
            if volume and not app.host.exists(volume):
                _user_run(app, ["mkdir", "-p", volume])
        if databases:
            # databases first, alone: the apps that need them start after the data is back
            services = [app.service(c) for c in databases]
            say(f"starting {', '.join(services)}")
            r = app.systemctl("start", app.layout.pod_service, *services, mutates=True, check=False, timeout=timeout + 30)
            if not r.ok:
                raise RoostError(f"the database did not start for the restore: {r.stderr.strip()}")
            for container, info in databases.items():
                say(f"restoring database {info['db']} of {container}")
                sql = app.host.read_file(posixpath.join(staging, info["file"])) or ""
                app.podman("exec", "-i", app.container_name(container), "psql", "-q", "-v", "ON_ERROR_STOP=1",
                           "-U", info["user"], "-d", info["db"], mutates=True, stdin=sql, timeout=3600)
        say("starting every container and waiting until healthy")
        r = app.systemctl("start", app.layout.pod_service, *app.services, mutates=True, check=False,
                          timeout=timeout + 30)
        if not r.ok:
            raise RoostError(f"the app did not become healthy after the restore: {r.stderr.strip()}",
                             hint=f"see `roost logs {app.spec.name}`")
    finally:
        _user_run(app, ["rm", "-rf", "--", staging], check=False)


def _health_timeout(app: App) -> float:
    from roost.spec.model import parse_duration

    return parse_duration(app.spec.app.health_timeout)
