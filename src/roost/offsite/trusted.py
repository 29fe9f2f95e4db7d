"""The trusted side: root with the repository's password (and, for pruning, credentials that
are not on the app's side). Lists snapshots, prunes to the spec's retention, prints the
recovery kit. The password goes to restic on stdin, never in argv or the environment.
"""

from __future__ import annotations

import time

from roost.app import App
from roost.errors import RoostError, UsageError
from roost.history import Outcome
from roost.host.runner import Host
from roost.offsite import restic
from roost.spec.model import OFFSITE_SECRET, Keep

KIT_MARK = "offsite-kit-printed"


def app_password(app: App) -> str:
    """The app's repository password, read as the app user (root does not open its home)."""
    r = app.host.run(["cat", "--", app.layout.secret_file(OFFSITE_SECRET)], user=app.user, check=False)
    value = r.stdout.strip()
    if not r.ok or not value:
        raise RoostError(f"app {app.spec.name} has no offsite password yet",
                         hint="add [backup.offsite] to its spec and run `roost apply` (it generates the password)")
    app.host.add_secret(value)
    return value


def offsite_of(app: App):
    if app.spec.backup.offsite is None:
        raise UsageError(f"app {app.spec.name} has no [backup.offsite] in its spec",
                         hint="see docs/spec.md, [backup.offsite]")
    return app.spec.backup.offsite


def root_run(host: Host, repository: str, password: str, args: list[str], what: str, *, mutates: bool = False,
             timeout: float = 3600, check: bool = True):
    r = host.run([*restic.base(repository), *args], stdin=password + "\n", mutates=mutates, check=False,
                 timeout=timeout)
    if check and not r.ok:
        raise restic.explain(r, repository, what)
    return r


def snapshots(host: Host, repository: str, password: str, app: str | None = None) -> list[restic.Snapshot]:
    """Snapshots in the repository (of one app), oldest first."""
    args = ["snapshots", "--json", *(["--tag", restic.tag(app)] if app else [])]
    r = root_run(host, repository, password, args, f"listing the snapshots in {repository}", timeout=600)
    return restic.parse_snapshots(r.stdout)


def forget_args(app: str, keep: Keep) -> list[str]:
    argv = ["forget", "--json", "--tag", restic.tag(app), "--group-by", "tags", "--prune"]
    for flag, n in (("--keep-daily", keep.daily), ("--keep-weekly", keep.weekly), ("--keep-monthly", keep.monthly)):
        if n:
            argv += [flag, str(n)]
    return argv


def expected_kept(snaps: list[restic.Snapshot], keep: Keep) -> int:
    """How many snapshots restic's policy keeps at most: one per day/week/month bucket, newest first."""
    import datetime as dt

    kept: set[str] = set()
    for n, bucket in ((keep.daily, "%Y-%m-%d"), (keep.weekly, "%G-%V"), (keep.monthly, "%Y-%m")):
        seen: list[str] = []
        for s in reversed(snaps):
            key = dt.datetime.fromtimestamp(s.timestamp, dt.UTC).strftime(bucket)
            if key not in seen and len(seen) < n:
                seen.append(key)
                kept.add(s.id)
    return len(kept)


def prune(host: Host, app: str, repository: str, password: str, keep: Keep) -> tuple[int, int]:
    """`restic forget --prune` to the retention, checked afterwards: restic 0.18.0 exits 0 when an
    append-only server refuses the deletes (restic#5233), so the snapshots are listed again and a
    prune that removed nothing it should have is an error. Returns (before, after)."""
    before = snapshots(host, repository, password, app)
    want = expected_kept(before, keep)
    r = root_run(host, repository, password, forget_args(app, keep), f"pruning {repository}", mutates=True,
                 timeout=6 * 3600, check=False)
    after = snapshots(host, repository, password, app)
    if len(after) > want:
        said = "restic reported success" if r.ok else f"restic exit {r.returncode}"
        raise RoostError(
            f"the repository {repository} refused to delete: {len(after)} snapshots of {app} remain where the "
            f"retention keeps {want} ({said}; an append-only server answers 403 to deletes)",
            hint="prune from the trusted side: a repository address whose server is not append-only, with the "
                 "credentials kept off the app's server (docs/operations.md, 'Pruning')")
    if not r.ok:
        raise restic.explain(r, repository, f"pruning {repository}")
    return len(before), len(after)


def prune_recorded(app: App, repository: str, password: str) -> tuple[int, int]:
    """`roost offsite prune`: prune to the spec's retention, recorded in the history whatever the outcome."""
    result: Outcome = "failed"
    fields: dict = {"repository": repository}
    try:
        before, after = prune(app.host, app.spec.name, repository, password, offsite_of(app).keep)
        result = "ok"
        fields.update(before=before, after=after)
        return before, after
    except RoostError as e:
        fields["error"] = e.message[-300:]
        raise
    finally:
        app.record_history("offsite-prune", result, **fields)


def kit(app: App, again: bool = False) -> dict[str, str]:
    """What the operator keeps off the server. Printed once: a second time needs `again`."""
    offsite = offsite_of(app)
    mark = f"{app.layout.root_dir}/{KIT_MARK}"
    if app.host.stat(mark) is not None and not again:
        raise UsageError(f"the recovery kit of {app.spec.name} was printed already (see its history)",
                         hint=f"`roost offsite kit {app.spec.name} --again` prints it once more")
    password = app_password(app)
    app.host.write_file(mark, time.strftime("%Y-%m-%dT%H:%M:%S%z") + "\n", mode=0o600, uid=0, gid=0)
    app.record_history("offsite-kit", "ok", repository=offsite.repository)
    return {"app": app.spec.name, "repository": offsite.repository, "password": password}
