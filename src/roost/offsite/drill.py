"""`roost drill APP`: prove the newest offsite snapshot restores, without touching the app.

The snapshot is fetched and checked as `roost recover` does, then applied as a throwaway copy:
another name (APP-drill, so another user, home and ID range), other host ports, no front door,
no notifications, no offsite section (a drill never uploads). Its data is restored, it must
become healthy, and each database, dumped again, must match the manifest's SHA-256. The copy
is purged whatever happened; the result goes into the app's history and a failure is notified.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import socket
import tarfile
import time
from collections.abc import Callable

import tomlkit

from roost import backup as bk
from roost.app import App
from roost.errors import RoostError, UsageError
from roost.host.runner import Host
from roost.layout import record_path
from roost.offsite import recover as rc
from roost.offsite import trusted
from roost.record import read_record
from roost.spec.model import PUBLISH_RE, Spec

SUFFIX = "-drill"


def copy_name(name: str) -> str:
    return name[: 31 - len(SUFFIX)] + SUFFIX


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def throwaway_spec(text: str, spec: Spec, name: str, port: Callable[[], int] | None = None) -> str:
    """The snapshot's spec as a copy that cannot collide with the app: its own name (user, home),
    fresh host ports, and nothing that reaches outside (front door, notifications, offsite, timers)."""
    for c in spec.containers.values():
        for vol in c.mounts:
            if vol.source.startswith("/") and not vol.source.startswith(spec.home + "/"):
                raise UsageError(f"containers: {vol.source} is outside the app's home: a drill's copy would share it",
                                 hint="a drill needs every volume inside app.home")
    doc = tomlkit.parse(text)
    app = doc["app"]
    app["name"] = name
    for key in ("uid", "gid"):
        app.pop(key, None)
    if "home" in app:
        app["home"] = posixpath.join(posixpath.dirname(spec.home), name)
    for key in ("web", "notify"):
        doc.pop(key, None)
    if "backup" in doc:
        for key in ("offsite", "schedule"):
            doc["backup"].pop(key, None)
    pod = doc.get("pod")
    if pod is not None and "publish" in pod:
        new = []
        for p in pod["publish"]:
            m = PUBLISH_RE.match(str(p))
            assert m is not None  # the spec loaded
            ip = m.group("ip") or "127.0.0.1"
            new.append(f"{ip}:{(port or free_port)()}:{m.group('ctr')}" + (f"/{m.group('proto')}" if m.group("proto")
                                                                            else ""))
        pod["publish"] = new
    return tomlkit.dumps(doc)


def purge(host: Host, name: str, ui) -> None:
    from roost.teardown import down

    if os.path.exists(record_path(name)):
        down(read_record(name, host), host, True, ui)


class DumpDigest:
    """SHA-256 of a pg_dump without its `\\restrict KEY` / `\\unrestrict KEY` lines: pg_dump >= 17.6 writes a
    random key there on every run, so two dumps of the same data differ only in them."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.rest = b""

    def feed(self, chunk: bytes) -> None:
        lines = (self.rest + chunk).split(b"\n")
        self.rest = lines.pop()
        for line in lines:
            if not line.startswith((b"\\restrict ", b"\\unrestrict ")):
                self.hash.update(line + b"\n")

    def hexdigest(self) -> str:
        if self.rest:
            self.feed(b"\n")
        return self.hash.hexdigest()


def check_data(copy: App, fetched: rc.Fetched) -> list[str]:
    """Each database of the copy, dumped again, against the dump it was restored from (whose
    SHA-256 the manifest's checked). Returns what was checked."""
    checked = []
    with tarfile.open(fetched.path, "r:gz") as tf:
        for container, member in fetched.manifest.databases.items():
            user, db = bk.pg_credentials(copy, container)
            want = DumpDigest()
            source = tf.extractfile(f"./{member}" if f"./{member}" in tf.getnames() else member)
            assert source is not None
            while chunk := source.read(1 << 20):
                want.feed(chunk)
            got = DumpDigest()
            r = copy.host.pipe(["podman", "exec", copy.container_name(container), "pg_dump", "-U", user, "-d", db,
                                "--clean", "--if-exists", "--no-owner"], ["dd", "of=/dev/null", "status=none"],
                               user=copy.user, tap=got.feed, timeout=3600)
            if not r.ok:
                raise RoostError(f"dumping {db} of the drill's copy failed: {r.stderr.strip()[-300:]}")
            if got.hexdigest() != want.hexdigest():
                raise RoostError(f"database {db} of the drill's copy differs from the snapshot's {member}",
                                 hint="the dump did not restore as it was taken: see the copy's logs in a new drill")
            checked.append(f"database {db} matches {member}")
    return checked


def drill(app: App, say: rc.Say, ui=None) -> dict:
    """Returns the result entry (also recorded in the app's history); raises on failure after
    recording and notifying it."""
    from roost import notify

    offsite = trusted.offsite_of(app)
    password = trusted.app_password(app)
    host = app.host
    name = copy_name(app.spec.name)
    started = time.monotonic()
    entry: dict = {"action": "drill", "repository": offsite.repository, "copy": name}
    work = rc.workdir(host, name)
    try:
        if os.path.exists(record_path(name)):
            say(f"removing {name}, left by an earlier drill")
            purge(host, name, ui)
        fetched = rc.fetch(host, offsite.repository, password, app.spec.name, work, say)
        entry.update(snapshot=fetched.snapshot.id, snapshot_time=fetched.snapshot.time, bytes=fetched.bytes)
        text = throwaway_spec(fetched.spec_text, fetched.spec, name)
        spec_path = posixpath.join(work, f"{name}.toml")
        host.write_file(spec_path, text, mode=0o600, uid=0, gid=0)
        say(f"applying a throwaway copy: app {name}")
        rc.apply_spec(host, spec_path, text, dict(fetched.secrets), ui)
        copy = App.load(name, host)
        rc.restore_into(copy, fetched, work, say, expect=bk.spec_expected(fetched.spec))
        entry["checked"] = ["healthy", *check_data(copy, fetched)]
        entry["result"] = "ok"
    except RoostError as e:
        entry.update(result="failed", error=host.mask(e.message)[-400:])
        raise
    finally:
        try:
            say(f"purging the copy {name}")
            purge(host, name, ui)
        finally:
            rc.cleanup(host, work)
            entry["seconds"] = round(time.monotonic() - started, 1)
            entry.setdefault("result", "failed")
            app.record_history("drill", entry["result"], **{k: v for k, v in entry.items() if k not in ("action", "result")})
            if entry["result"] != "ok":
                notify.emit(app, notify.Event("drill-failed", str(entry.get("error", "interrupted"))[-300:]))
    return entry
