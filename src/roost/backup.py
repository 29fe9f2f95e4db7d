"""Backups of one app: logical dumps of its PostgreSQL containers, tars of its other volumes
taken inside the user namespace (so ownership survives), the spec, image digests, secrets.

Trust: every command runs as the app user (its own nightly timer runs the same code), so
root never opens, creates or follows a path in the app's home. Root only passes bytes along
(`Host.pipe`): it hashes each member as it streams into the staging directory, so the
manifest holds a SHA-256 of every member and nothing is held in memory. An archive is built
under a name from mktemp and renamed once complete: a failed dump or tar leaves no archive.

Restore treats the archive as hostile (the app user could have written it): the app user
streams it, root checks every member against the spec and the manifest's checksums while the
app user unpacks it into a fresh staging directory, and only then stops anything. A safety
backup comes first; the data replaced is kept aside and put back if any step fails.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from roost import archive
from roost.app import App
from roost.errors import RoostError, UsageError
from roost.history import Outcome
from roost.host.facts import images_json
from roost.host.runner import Result
from roost.pgmajor import pgdata_volume
from roost.spec.model import Spec, parse_duration
from roost.upgrade_marker import refuse_if_interrupted

ARCHIVE_SUFFIX = ".tar.gz"
Say = Callable[[str], object]


@dataclass(frozen=True)
class BackupInfo:
    name: str
    path: str
    size: int
    created: str


def pg_credentials(app: App, container: str) -> tuple[str, str]:
    env = app.spec.containers[container].env
    user = env.get("POSTGRES_USER", "postgres")
    return user, env.get("POSTGRES_DB", user)


def volume_plan(app: App) -> tuple[dict[str, str], list[str]]:
    """(volume key -> host dir to tar, PostgreSQL containers to dump). A PostgreSQL data
    directory is backed up by its logical dump, never by copying live files."""
    return spec_volume_plan(app.spec)


def spec_volume_plan(spec: Spec) -> tuple[dict[str, str], list[str]]:
    pg_volumes = {n: v for n, c in spec.containers.items() if c.is_postgres and (v := pgdata_volume(spec, n))}
    tars = {}
    for name in spec.start_order():
        for vol in spec.containers[name].mounts:
            host = spec.host_path(vol.source)
            if host not in pg_volumes.values() and host.startswith(spec.home + "/"):
                tars[posixpath.relpath(host, spec.home).replace("/", "__")] = host
    return tars, list(pg_volumes)


def expected(app: App) -> archive.Expected:
    return spec_expected(app.spec)


def spec_expected(spec: Spec) -> archive.Expected:
    """What a backup of this spec may hold (offsite recovery checks a snapshot before any app exists)."""
    tars, pg = spec_volume_plan(spec)
    return archive.Expected(spec.name, tars, frozenset(pg), frozenset(spec.secrets))


def _user_run(app: App, argv: list[str], **kw) -> Result:
    return app.host.run(argv, user=app.user, mutates=True, **kw)


def _is_dir(app: App, path: str) -> bool:
    return app.host.run(["test", "-d", path], user=app.user, check=False).ok


def _mktemp(app: App, template: str, directory: bool = False) -> str:
    """A fresh name nobody could guess, made by the app user in its backups folder."""
    argv = ["mktemp", *(["-d"] if directory else []), "-p", app.layout.backups_dir, "--", template]
    path = _user_run(app, argv).stdout.strip()
    if posixpath.dirname(path) != app.layout.backups_dir:
        raise RoostError(f"mktemp answered {path!r}, not a name in {app.layout.backups_dir}")
    return path


def _stream(app: App, source: list[str], sink: list[str], what: str, tap=None, timeout: float = 3600) -> None:
    r = app.host.pipe(source, sink, user=app.user, tap=tap, timeout=timeout)
    if not r.ok:
        detail = app.host.mask(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}")
        raise RoostError(f"{what} failed: {r.argv[0]}: {detail}", hint="no backup was written" if "backup" in what else None)


def _write_to(path: str) -> list[str]:
    """The sink that creates `path` (O_EXCL: never through a planted link) as the app user."""
    return ["dd", f"of={path}", "conv=excl", "status=none", "bs=1M"]


def take(app: App, reason: str = "manual", prune_after: bool = True,
         then: Callable[[str], object] | None = None) -> str:
    """Write one archive; returns its path. Prunes to backup.keep afterwards. `then` is handed the
    uncompressed staging folder once the archive is complete (the offsite upload)."""
    refuse_if_interrupted(app)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    backups = app.layout.backups_dir
    _user_run(app, ["mkdir", "-p", "-m", "0700", "--", backups])
    staging = _mktemp(app, f".{app.spec.name}-staging.XXXXXXXXXX", directory=True)
    partial = None
    try:
        sums: dict[str, str] = {}

        def put(member: str, source: list[str]) -> None:
            digest = hashlib.sha256()
            _stream(app, source, _write_to(posixpath.join(staging, member)), f"backup of {member}", digest.update)
            sums[member] = digest.hexdigest()

        tars, pg = volume_plan(app)
        manifest: dict = {"format": archive.FORMAT, "app": app.spec.name, "created": stamp, "reason": reason,
                          "volumes": {}, "databases": {}, "images": images_json(app.running_images())}
        for container in pg:
            user, db = pg_credentials(app, container)
            put(f"db-{container}.sql", ["podman", "exec", app.container_name(container), "pg_dump", "-U", user,
                                        "-d", db, "--clean", "--if-exists", "--no-owner"])
            manifest["databases"][container] = {"user": user, "db": db, "file": f"db-{container}.sql"}
        for key, host_dir in tars.items():
            if _is_dir(app, host_dir):
                # inside the user namespace, files owned by the container's users stay theirs
                put(f"vol-{key}.tar", ["podman", "unshare", "tar", "--numeric-owner", "-C", host_dir, "-cpf", "-", "."])
                manifest["volumes"][key] = host_dir
        put("spec.toml", ["cat", "--", app.layout.applied_spec])  # root-owned truth, readable by the app user
        secrets = [s for s in sorted(app.spec.secrets)
                   if app.host.run(["test", "-f", app.layout.secret_file(s)], user=app.user, check=False).ok]
        if secrets:
            _user_run(app, ["mkdir", "-m", "0700", "--", posixpath.join(staging, "secrets")])
        for s in secrets:
            put(f"secrets/{s}", ["cat", "--", app.layout.secret_file(s)])
        manifest["files"] = sums
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        _user_run(app, _write_to(posixpath.join(staging, archive.MANIFEST)), stdin=text)
        partial = _mktemp(app, f".{app.spec.name}-{stamp}{ARCHIVE_SUFFIX}.XXXXXXXXXX")
        _user_run(app, ["chmod", "0600", "--", partial])
        _user_run(app, ["tar", "-C", staging, "-czf", partial, "."], timeout=3600)
        final = posixpath.join(backups, _free_name(app, f"{app.spec.name}-{stamp}") + ARCHIVE_SUFFIX)
        _user_run(app, ["mv", "-T", "--", partial, final])  # rename(2): replaces a planted link, never follows it
        partial = None
        if then:
            then(staging)
    finally:
        if partial:
            _user_run(app, ["rm", "-f", "--", partial], check=False)
        _user_run(app, ["rm", "-rf", "--", staging], check=False)
    if prune_after:
        prune(app, app.spec.backup.keep)
    return final


def _free_name(app: App, name: str) -> str:
    taken = {b.name for b in listing(app)}
    n, i = name, 2
    while n in taken:
        n, i = f"{name}-{i}", i + 1
    return n


def _archive_re(app: App) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(app.spec.name)}-(\d{{8}}T\d{{6}}Z)(?:-\d+)?{re.escape(ARCHIVE_SUFFIX)}")


def listing(app: App) -> list[BackupInfo]:
    """Complete archives only: regular files named like roost names them (temporary names start
    with a dot and end in random letters, so a partial archive is never listed or counted)."""
    r = app.host.run(["find", app.layout.backups_dir, "-mindepth", "1", "-maxdepth", "1", "-type", "f",
                      "-printf", r"%f\0%s\0"], user=app.user, check=False)
    fields = r.stdout.split("\0")
    pattern = _archive_re(app)
    out = []
    # (strict=False: the listing ends with a NUL, so there is one empty field left over)
    for fname, size in zip(fields[0::2], fields[1::2], strict=False):
        m = pattern.fullmatch(fname)
        if m and size.isdigit():
            out.append(BackupInfo(fname.removesuffix(ARCHIVE_SUFFIX), posixpath.join(app.layout.backups_dir, fname),
                                  int(size), m.group(1)))
    return sorted(out, key=lambda b: (b.created, b.name))


def prune(app: App, keep: int) -> list[str]:
    old = listing(app)[:-keep] if keep > 0 else []
    for b in old:
        _user_run(app, ["rm", "-f", "--", b.path])
    return [b.name for b in old]


def find(app: App, name: str) -> BackupInfo:
    found = listing(app)
    for b in found:
        if name in (b.name, b.path, b.name + ARCHIVE_SUFFIX):
            return b
    known = ", ".join(b.name for b in found) or "none yet"
    raise UsageError(f"no backup {name!r} of app {app.spec.name} (backups: {known})",
                     hint=f"`roost backups {app.spec.name}` lists them")


def unpack_checked(app: App, path: str, staging: str, expect: archive.Expected | None = None) -> archive.Manifest:
    """The app user streams the archive; root checks each member as it passes and the app user
    unpacks the same bytes into `staging`. Returns the manifest once every checksum matched.
    `expect`: what the archive may hold when it was taken of another spec (a drill's copy)."""
    scanner = archive.Scanner(path, expect or expected(app))
    r = app.host.pipe(["cat", "--", path], ["tar", "-C", staging, "-xzf", "-", "--no-same-owner"], user=app.user,
                      tap=scanner.feed, timeout=3600)
    if not r.ok:  # (a member the checker refuses raises from the tap, before this)
        raise RoostError(f"{path}: unpacking failed: {r.argv[0]}: {r.stderr.strip()[-300:]}",
                         hint="nothing was changed")
    return scanner.finish()


def pod_active(app: App) -> bool:
    r = app.systemctl("is-active", "--quiet", app.layout.pod_service, check=False)
    return r.ok


@dataclass
class _Aside:
    """Directories moved out of the way by a restore, to put back if it fails."""

    moved: list[tuple[str, str]]

    def move(self, app: App, host_dir: str, stamp: str) -> None:
        kept = f"{host_dir}.pre-restore-{stamp}"
        if _is_dir(app, host_dir):
            _user_run(app, ["mv", "-T", "--", host_dir, kept])
            self.moved.append((host_dir, kept))
        else:
            self.moved.append((host_dir, ""))
        # 0755, as apply makes volume folders: images drop to their own user (postgres) that must enter it
        _user_run(app, ["mkdir", "-p", "-m", "0755", "--", host_dir])

    def put_back(self, app: App) -> None:
        for host_dir, kept in reversed(self.moved):
            _user_run(app, ["podman", "unshare", "rm", "-rf", "--", host_dir], check=False)
            if kept:
                _user_run(app, ["mv", "-T", "--", kept, host_dir])

    def drop(self, app: App) -> None:
        for _, kept in self.moved:
            if kept:
                _user_run(app, ["podman", "unshare", "rm", "-rf", "--", kept], check=False)


def restore(app: App, name: str, say: Say = print, expect: archive.Expected | None = None) -> str | None:
    """Check the archive, take a safety backup, stop the app, put volumes and databases back as
    the archive has them, start, wait healthy. Returns the safety backup's path (None when the
    app was not running: there is no database to dump, and the data is kept aside instead).
    When any step after the stop fails, the data replaced goes back and the app is started
    again if it was running."""
    refuse_if_interrupted(app)
    b = find(app, name)
    staging = _mktemp(app, f".{app.spec.name}-restore.XXXXXXXXXX", directory=True)
    try:
        say(f"checking {b.path}")
        manifest = unpack_checked(app, b.path, staging, expect)
        was_active = pod_active(app)
        safety = None
        if was_active:
            say("taking a safety backup first")
            safety = take(app, reason="pre-restore", prune_after=False)
            say(f"safety backup: {safety}")
        aside = _Aside([])
        try:
            _put_back(app, staging, manifest, aside, say)
        except BaseException as e:
            say(f"[red]restore failed[/]: {e}; putting the data back as it was")
            app.systemctl("stop", app.layout.pod_service, mutates=True, check=False, timeout=300)
            aside.put_back(app)
            if was_active:
                app.systemctl("start", app.layout.pod_service, *app.services, mutates=True, check=False,
                              timeout=_health_timeout(app) + 30)
            raise
        aside.drop(app)
        return safety
    finally:
        _user_run(app, ["rm", "-rf", "--", staging], check=False)


def _put_back(app: App, staging: str, manifest: archive.Manifest, aside: _Aside, say: Say) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    tars, _ = volume_plan(app)  # where each volume goes comes from the spec, never from the archive
    timeout = _health_timeout(app)
    say(f"stopping {app.layout.pod_service}")
    app.systemctl("stop", app.layout.pod_service, mutates=True, timeout=300)
    for key in manifest.volumes:
        host_dir = tars[key]
        say(f"restoring {host_dir}")
        aside.move(app, host_dir, stamp)
        _user_run(app, ["podman", "unshare", "tar", "--numeric-owner", "-C", host_dir, "-xpf",
                        posixpath.join(staging, f"vol-{key}.tar")], timeout=3600)
    for sname in manifest.secrets:
        target = app.layout.secret_file(sname)
        if not app.host.run(["test", "-e", target], user=app.user, check=False).ok:
            _user_run(app, ["cp", "-p", "--", posixpath.join(staging, "secrets", sname), target])
    for container in manifest.databases:  # a fresh data directory: the server starts afresh, then takes the dump
        volume = pgdata_volume(app.spec, container)
        if volume:
            aside.move(app, volume, stamp)
    if manifest.databases:
        # databases first, alone: the apps that need them start after the data is back
        services = [app.service(c) for c in manifest.databases]
        say(f"starting {', '.join(services)}")
        r = app.systemctl("start", app.layout.pod_service, *services, mutates=True, check=False, timeout=timeout + 30)
        if not r.ok:
            raise RoostError(f"the database did not start for the restore: {r.stderr.strip()}")
        for container, member in manifest.databases.items():
            user, db = pg_credentials(app, container)
            wait_for_database(app, container, user, db, timeout, say)
            say(f"restoring database {db} of {container}")
            _stream(app, ["cat", "--", posixpath.join(staging, member)],
                    ["podman", "exec", "-i", app.container_name(container), "psql", "-q", "-v", "ON_ERROR_STOP=1",
                     "-U", user, "-d", db], f"restore of database {db}")
    say("starting every container and waiting until healthy")
    start_all(app, timeout, "after the restore")


def wait_for_database(app: App, container: str, user: str, db: str, timeout: float, say: Say) -> None:
    """Until the server takes connections: its unit is active as soon as the container runs when the
    spec has no health check (Synapse's compose file declares none for its PostgreSQL). Over TCP:
    the image's first start runs a temporary server on the socket only, stopped again after initdb."""
    deadline = time.monotonic() + timeout
    ready = ("exec", app.container_name(container), "pg_isready", "-q", "-h", "127.0.0.1", "-U", user, "-d", db)
    if app.podman(*ready, check=False).ok:
        return
    say(f"waiting until {container} takes connections")
    while time.monotonic() < deadline:
        time.sleep(1)
        if app.podman(*ready, check=False).ok:
            return
    raise RoostError(f"{container} did not take connections within {timeout:.0f}s for the restore",
                     hint=f"see `roost logs {app.spec.name} {container}`")


def start_all(app: App, timeout: float, what: str) -> None:
    """Start the pod and every container (those running stay as they are), waiting until healthy."""
    r = app.systemctl("start", app.layout.pod_service, *app.services, mutates=True, check=False,
                      timeout=timeout + 30)
    if not r.ok:
        raise RoostError(f"the app did not become healthy {what}: {r.stderr.strip()}",
                         hint=f"see `roost logs {app.spec.name}`")


def _health_timeout(app: App) -> float:
    return parse_duration(app.spec.app.health_timeout)


def take_recorded(app: App, reason: str = "manual") -> str:
    """`roost backup`: take a backup and record it in the history; a failure is recorded and
    notified (a nightly pre-update backup's failure is reported by the skipped update itself)."""
    from roost import notify

    offsite: dict = {}
    try:
        path = take(app, reason, then=_offsite_step(app, offsite) if app.spec.backup.offsite else None)
    except RoostError as e:
        app.record_history("backup", "failed", reason=reason, error=e.message[-400:])
        if reason != "pre-auto-update":
            notify.emit(app, notify.Event("backup-failed", f"{reason} backup: {e.message[-300:]}"))
        raise
    app.record_history("backup", "ok", reason=reason, backup=path, images=images_json(app.running_images()))
    if app.spec.backup.offsite:
        from roost.offsite.upload import offsite_outcome

        offsite_outcome(app, path, offsite)
    return path


def _offsite_step(app: App, into: dict) -> Callable[[str], None]:
    """The upload after the local archive: its failure is kept (and reported after the local
    backup is recorded), never lost and never losing the local archive."""
    from roost.offsite.upload import upload

    def step(staging: str) -> None:
        try:
            into.update(upload(app, staging))
        except RoostError as e:
            into["error"] = e

    return step


def restore_recorded(app: App, name: str, say: Say = print) -> str | None:
    """`roost restore`, recorded in the history whatever the outcome. Returns the safety backup."""
    result: Outcome = "failed"
    try:
        safety = restore(app, name, say=say)
        result = "ok"
        return safety
    finally:
        app.record_history("restore", result, backup=name, images=images_json(app.running_images()))
