"""`roost recover`: rebuild an app on a new server from the newest snapshot in its repository.

Phases (each timed for the report):
1. fetch: root lists the app's snapshots and dumps the newest as a tar into a folder of its own
   (the app does not exist here yet, so nothing of it can interfere);
2. verify: the tar is checked like any backup archive (archive.Scanner: only what the spec it
   holds explains, every member against the manifest's SHA-256) before anything is created;
3. apply: the spec from the snapshot is applied, its secrets seeded with the snapshot's values
   (the database password the data was written with, the repository password from the kit);
4. restore: the checked archive is handed to the app's user and `backup.restore` puts volumes
   and database dumps back, starts the app and waits until it is healthy.
A wrong password, an empty repository or a damaged snapshot fails in 1-2: nothing is created.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import posixpath
import shutil
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from roost import archive
from roost import backup as bk
from roost.app import App
from roost.errors import RoostError, UsageError
from roost.host.runner import Host
from roost.layout import ROOST_STATE_DIR, record_path
from roost.offsite import restic, trusted
from roost.spec.load import parse_spec
from roost.spec.model import OFFSITE_SECRET, Spec

WORK_ROOT = posixpath.join(ROOST_STATE_DIR, "recover")  # root's own: snapshots being checked
RECOVERED = posixpath.join(ROOST_STATE_DIR, "recovered")  # the specs recover applied, for the operator to edit
MAX_MEMBER_READ = 1 << 20
Say = Callable[[str], object]


@dataclass
class Fetched:
    snapshot: restic.Snapshot
    path: str  # the checked .tar.gz, root's
    spec_text: str
    spec: Spec
    manifest: archive.Manifest
    secrets: dict[str, str]
    bytes: int  # of the tar restic handed over
    phases: dict[str, float] = field(default_factory=dict)


def _member(tar_path: str, name: str) -> bytes:
    """One small regular member of root's own (checked or about to be checked) tar."""
    with tarfile.open(tar_path, "r:gz") as tf:
        for m in tf:
            if m.name.removeprefix("./") == name:
                if not m.isreg() or m.size > MAX_MEMBER_READ:
                    raise UsageError(f"{name} in the snapshot is not a small regular file: refused")
                fh = tf.extractfile(m)
                assert fh is not None
                return fh.read()
    raise UsageError(f"the snapshot holds no {name}: it is not a roost backup")


def fetch(host: Host, repository: str, password: str, name: str, work: str, say: Say) -> Fetched:
    """The newest snapshot of app `name`, fetched into `work` (root's) and checked."""
    phases: dict[str, float] = {}
    started = time.monotonic()
    snaps = trusted.snapshots(host, repository, password, name)
    if not snaps:
        others = sorted({s.app for s in trusted.snapshots(host, repository, password) if s.app})
        raise UsageError(f"the repository {repository} holds no snapshot of app {name}"
                         + (f" (it holds: {', '.join(others)})" if others else " (it is empty)"),
                         hint="check the repository and app name in the recovery kit; nothing was changed")
    snap = snaps[-1]
    say(f"newest snapshot of {name}: {snap.short_id} taken {snap.time[:19]}Z ({restic.age(snap.timestamp)} ago)")
    tar = posixpath.join(work, "snapshot.tar")
    trusted.root_run(host, repository, password, ["dump", "--archive", "tar", "--target", tar, snap.id, "/"],
                     f"fetching snapshot {snap.short_id}", timeout=6 * 3600)
    size = os.path.getsize(tar)
    gz = tar + ".gz"
    with open(tar, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    os.unlink(tar)
    phases["fetch"] = time.monotonic() - started
    started = time.monotonic()
    where = f"{repository} snapshot {snap.short_id}"
    spec_text = _member(gz, "spec.toml").decode("utf-8", "replace")
    spec = parse_spec(spec_text, f"{where}: spec.toml")
    if spec.name != name:
        raise UsageError(f"{where}: its spec is of app {spec.name!r}, not {name!r}: refused, nothing was changed")
    scanner = archive.Scanner(where, bk.spec_expected(spec))
    with open(gz, "rb") as fh:
        while chunk := fh.read(1 << 20):
            scanner.feed(chunk)
    manifest = scanner.finish()
    if manifest.files.get("spec.toml") != hashlib.sha256(spec_text.encode()).hexdigest():
        raise UsageError(f"{where}: spec.toml does not match its checksum in the manifest: refused")
    secrets = {}
    for s in manifest.secrets:
        value = _member(gz, f"secrets/{s}").decode("utf-8", "replace").strip()
        host.add_secret(value)
        secrets[s] = value
    phases["verify"] = time.monotonic() - started
    say(f"verified: {len(manifest.files)} files match the manifest's SHA-256 ({size / 1e6:.1f} MB)")
    return Fetched(snap, gz, spec_text, spec, manifest, secrets, size, phases)


def workdir(host: Host, label: str) -> str:
    host.make_dir(ROOST_STATE_DIR, mode=0o755, uid=0, gid=0)
    host.make_dir(WORK_ROOT, mode=0o711, uid=0, gid=0)
    path = posixpath.join(WORK_ROOT, f"{label}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}")
    host.make_dir(path, mode=0o700, uid=0, gid=0)
    return path


def cleanup(host: Host, path: str) -> None:
    host.run(["rm", "-rf", "--one-file-system", "--", path], mutates=True, check=False)


def apply_spec(host: Host, spec_path: str, spec_text: str, seeds: dict[str, str], ui) -> None:
    from roost.apply import apply, prepare

    prep = prepare(spec_path, host, spec_text=spec_text)
    apply(prep, host, ui, seeds=seeds)


def hand_over(app: App, fetched: Fetched, work: str) -> str:
    """The checked archive into the app's backups folder, copied by the app's user from root's
    folder (opened to the app's group for the copy). Returns the backup's name."""
    gid = app.record.gid
    host = app.host
    host.run(["chgrp", "--", str(gid), work], mutates=True)
    host.run(["chmod", "0750", "--", work], mutates=True)
    host.fix_file(fetched.path, mode=0o640, uid=0, gid=gid)
    app.host.run(["mkdir", "-p", "-m", "0700", "--", app.layout.backups_dir], user=app.user, mutates=True)
    name = bk._free_name(app, f"{app.spec.name}-{fetched.manifest.created or 'offsite'}")
    target = posixpath.join(app.layout.backups_dir, name + bk.ARCHIVE_SUFFIX)
    app.host.run(["dd", f"if={fetched.path}", f"of={target}", "conv=excl", "status=none", "bs=1M"],
                 user=app.user, mutates=True, timeout=3600)
    return name


def wait_healthy(app: App, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    ok, why = app.healthy()
    while not ok and time.monotonic() < deadline:
        time.sleep(1)
        ok, why = app.healthy()
    if not ok:
        raise RoostError(f"{app.spec.name} did not become healthy: {why}", hint=f"see `roost logs {app.spec.name}`")


def restore_into(app: App, fetched: Fetched, work: str, say: Say, expect: archive.Expected | None = None) -> None:
    """Stop the freshly applied app (so no safety backup of its empty data), put the snapshot's
    data back, start it and wait until healthy."""
    app.systemctl("stop", app.layout.pod_service, mutates=True, timeout=300)
    name = hand_over(app, fetched, work)
    bk.restore(app, name, say=say, expect=expect)
    wait_healthy(app, bk._health_timeout(app))


@dataclass
class Recovered:
    app: str
    snapshot: str
    snapshot_time: str
    phases: dict[str, float]
    bytes: int
    spec_path: str
    urls: list[str]


def recover(host: Host, repository: str, password: str, name: str, say: Say, ui=None) -> Recovered:
    if os.path.exists(record_path(name)):
        raise UsageError(f"app {name} exists on this host already: recover builds it on a new server",
                         hint=f"`roost restore {name} BACKUP` puts a backup back into an existing app")
    host.add_secret(password)
    started = time.monotonic()
    work = workdir(host, name)
    try:
        fetched = fetch(host, repository, password, name, work, say)
        phases = dict(fetched.phases)
        t = time.monotonic()
        host.make_dir(RECOVERED, mode=0o700, uid=0, gid=0)
        spec_path = posixpath.join(RECOVERED, f"{name}.toml")
        host.write_file(spec_path, fetched.spec_text, mode=0o600, uid=0, gid=0)
        say(f"applying the spec from the snapshot (kept in {spec_path})")
        seeds = dict(fetched.secrets)
        if fetched.spec.backup.offsite:
            seeds[OFFSITE_SECRET] = password
        try:
            apply_spec(host, spec_path, fetched.spec_text, seeds, ui)
            phases["apply"] = time.monotonic() - t
            t = time.monotonic()
            app = App.load(name, host)
            restore_into(app, fetched, work, say)
            phases["restore"] = time.monotonic() - t
        except RoostError as e:  # the snapshot checked out, but this host could not take it
            e.hint = (e.hint + "; " if e.hint else "") + (f"then start again: `roost down {name} --purge --yes` and "
                                                          "`roost recover` once more")
            raise
    finally:
        cleanup(host, work)
    phases["total"] = time.monotonic() - started
    app.record_history("recover", "ok", repository=repository, snapshot=fetched.snapshot.id,
                       snapshot_time=fetched.snapshot.time, bytes=fetched.bytes,
                       phases={k: round(v, 1) for k, v in phases.items()})
    urls = [f"http://127.0.0.1:{p.host_port}/" for p in fetched.spec.pod.ports if p.proto == "tcp"]
    return Recovered(name, fetched.snapshot.id, fetched.snapshot.time, phases, fetched.bytes, spec_path, urls)


def read_password(path: str) -> str:
    """The repository password from the recovery kit: a file (root's, on the new server) or '-' for stdin."""
    import sys

    try:
        if path == "-":
            text = sys.stdin.readline()
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.readline()
    except OSError as e:
        raise UsageError(f"--password-file {path}: {e.strerror}",
                         hint="give the file holding the kit's password") from None
    value = text.strip()
    if not value:
        raise UsageError(f"--password-file {path}: empty", hint="the first line must be the repository password")
    return value
