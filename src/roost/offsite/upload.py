"""The app's side: each backup's uncompressed staging goes into the restic repository.

Runs as the app's user (its nightly timer runs the same code) with the password file it owns.
It only ever adds: `init` when the repository is new and `backup`; nothing here forgets or
prunes (that is the trusted side's, `roost offsite prune`). What the nightly path knows of the
last upload is written to a small state file in the home for `roost status` to show.
"""

from __future__ import annotations

import json
import time

from roost.app import App
from roost.errors import RoostError
from roost.offsite import restic
from roost.offsite.state import read_state, state_path
from roost.spec.model import OFFSITE_SECRET

REPOSITORY_SECRET = "offsite-repository"  # optional: the address with the app's credentials (see app_base)
DAY = 86400


def app_base(app: App) -> list[str]:
    """restic as the app's side runs it. A rest-server with users needs the app's credentials in the
    address: the operator puts `rest:https://USER:PASSWORD@HOST/PATH` in the secret file
    `offsite-repository` (0600, the app user's), read by restic itself (`--repository-file`), never
    written into the spec, argv or a unit. S3 keys (~/.aws/credentials) and SSH keys (~/.ssh) are
    found by restic in the app's home."""
    offsite = app.spec.backup.offsite
    assert offsite is not None
    address = app.layout.secret_file(REPOSITORY_SECRET)
    with_credentials = app.host.run(["test", "-f", address], user=app.user, check=False).ok
    return restic.base(offsite.repository, app.layout.secret_file(OFFSITE_SECRET),
                       address if with_credentials else None)


def upload(app: App, staging: str) -> dict:
    """One snapshot of `staging` (its files at the snapshot's root, tagged roost-app:NAME).
    Returns the summary (snapshot id, bytes added and processed)."""
    offsite = app.spec.backup.offsite
    assert offsite is not None
    argv = app_base(app)
    probe = app.host.run([*argv, "cat", "config"], user=app.user, check=False, timeout=300)
    if probe.returncode == restic.NO_REPOSITORY:
        r = app.host.run([*argv, "init"], user=app.user, mutates=True, check=False, timeout=300)
        if not r.ok:
            raise restic.explain(r, offsite.repository, "creating the offsite repository")
    elif not probe.ok:
        raise restic.explain(probe, offsite.repository, "opening the offsite repository")
    limit = ["--limit-upload", str(offsite.upload_limit)] if offsite.upload_limit else []
    # from inside the staging folder, so a snapshot's root holds the backup's files (restic >= 0.17)
    r = app.host.run(["env", "-C", staging, *argv, "backup", "--json", "--tag", restic.tag(app.spec.name),
                      "--host", app.spec.name, *limit, "."], user=app.user, mutates=True, check=False, timeout=6 * 3600)
    if not r.ok:
        raise restic.explain(r, offsite.repository, "the offsite upload")
    summary = restic.parse_backup_summary(r.stdout)
    write_state(app, {"snapshot": summary["snapshot"], "time": time.time(), "result": "ok"})
    return summary


def write_state(app: App, state: dict) -> None:
    """The newest upload, for `roost status` (written by the app user in its own state folder)."""
    path = state_path(app.layout)
    app.host.run(["mkdir", "-p", "--", app.layout.state_dir], user=app.user, mutates=True, check=False)
    tmp = path + ".new"
    r = app.host.run(["dd", f"of={tmp}", "status=none"], user=app.user, stdin=json.dumps(state) + "\n",
                     mutates=True, check=False)
    if r.ok:
        app.host.run(["mv", "-T", "--", tmp, path], user=app.user, mutates=True, check=False)


def offsite_outcome(app: App, local: str, outcome: dict) -> None:
    """Record the upload in the history; a failure is notified and fails the verb (a backup
    that silently stayed on the server is what this feature exists to prevent)."""
    from roost import notify

    error = outcome.pop("error", None)
    if error is None:
        app.record_history("offsite", "ok", **outcome)
        return
    message = app.host.mask(error.message)[-400:]
    app.record_history("offsite", "failed", error=message)
    notify.emit(app, notify.Event("offsite-failed", f"offsite copy failed: {message[-300:]}"))
    last = read_state(app.host, app.layout).get("time", 0.0)
    if time.time() - last > DAY:
        notify.emit(app, notify.Event("offsite-stale", "the newest offsite snapshot is "
                                      + (f"{restic.age(last)} old" if last else "missing")))
    raise RoostError(f"the backup was written ({local}) but its offsite copy failed: {message}",
                     hint=error.hint or "see docs/operations.md, 'Offsite backups'")
