"""Notifications through Apprise when something goes wrong with an app.

The URLs are secrets: `roost apply` copies them from the file the spec names into
/var/lib/roost/apps/NAME/notify.urls (root, 0600). Root sends directly (`roost update`).
The app's user cannot read them, so its units (a container's OnFailure=, the nightly update's
ExecStopPost=, a scheduled backup) hand a small JSON event to root through a spool directory
of its own, /var/lib/roost/spool/NAME; the system unit roost-notify@NAME.path starts
roost-notify@NAME.service (root), which reads the events as untrusted input: without
following links, regular files only, bounded in size and number, strictly validated, and
the text escaped. Root writes the message itself from a fixed template.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from roost.errors import RoostError

if TYPE_CHECKING:
    from roost.app import App
    from roost.spec.model import Spec

STATE_ROOT = "/var/lib/roost/apps"  # root only: NAME/notify.urls, NAME/notify-sent.json
SPOOL_ROOT = "/var/lib/roost/spool"  # NAME/ is the app user's own, 0700
URLS_FILE = "notify.urls"
SENT_FILE = "notify-sent.json"
URL_KEY = "NOTIFY_URL_"  # the stored file is KEY=VALUE lines, so that plan diffs mask it like an env file

MAX_EVENT_BYTES = 4096
MAX_EVENTS = 20  # per flush; more are dropped (and counted)
MAX_DETAIL = 400
THROTTLE_S = 15 * 60  # one message per (kind, container) per window: a restart loop is one message

# what an app's user may report, and the headline root writes for it
USER_KINDS = {
    "container-failed": "container {container} failed",
    "auto-update-rolled-back": "nightly update rolled back",
    "auto-update-failed": "nightly update failed",
    "auto-update-skipped": "nightly update skipped",
    "backup-failed": "backup failed",
    "offsite-failed": "offsite backup failed",
    "offsite-stale": "no offsite backup newer than a day",
}
ROOT_KINDS = {
    "update-rolled-back": "update rolled back",
    "update-failed": "update failed, and so did the rollback",
    "test": "test message",
    "drill-failed": "disaster-recovery drill failed",
}
TMP_GRACE_S = 2.0  # a `.tmp-` file (an event being written: 4 KiB at most) older than this is stuck
EVENT_NAME = re.compile(r"^event-[0-9]{1,20}-[0-9]{1,10}\.json\Z")


@dataclass(frozen=True)
class Event:
    kind: str
    detail: str = ""
    container: str | None = None

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "container": self.container, "detail": self.detail[:MAX_DETAIL]})


def state_dir(name: str) -> str:
    return os.path.join(STATE_ROOT, name)


def urls_path(name: str) -> str:
    return os.path.join(state_dir(name), URLS_FILE)


def spool_dir(name: str) -> str:
    return os.path.join(SPOOL_ROOT, name)


# -- the stored URLs ----------------------------------------------------------------------
def read_notify_urls(spec: Spec, spec_path) -> tuple[str, ...]:
    """The URLs in the file the spec's [notify] names, beside the spec (read by root at apply)."""
    if spec.notify is None:
        return ()
    from roost.spec.beside import read_beside

    path = spec_path.parent / spec.notify.urls_file
    text = read_beside(spec_path, spec.notify.urls_file, "notify.urls_file")  # no links out, FIFOs, huge files
    return tuple(parse_urls_file(text, str(path)))


def notify_watch_active(host, name: str) -> bool:
    return host.run(["systemctl", "is-active", "--quiet", f"roost-notify@{name}.path"], check=False).ok


def parse_urls_file(text: str, source: str) -> list[str]:
    """The user's file: one URL per line, # comments and blank lines ignored."""
    from roost.errors import UsageError

    urls = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not re.match(r"^[a-z][a-z0-9+.-]*://\S+\Z", line):
            raise UsageError(f"{source}:{number}: not a notification URL (scheme://...)",
                             hint="one Apprise URL per line, e.g. ntfys://TOKEN@ntfy.sh/topic")
        urls.append(line)
    if not urls:
        raise UsageError(f"{source}: no notification URL in it", hint="one Apprise URL per line")
    return urls


def render_stored(urls: list[str]) -> str:
    return "".join(f"{URL_KEY}{i}={u}\n" for i, u in enumerate(urls, 1))


def read_stored(name: str) -> list[str]:
    try:
        with open(urls_path(name)) as fh:
            text = fh.read(65536)
    except FileNotFoundError:
        return []
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(URL_KEY) and "=" in line]


# -- text from the app's user: escaped -------------------------------------------------------
def clean(text: str, limit: int = MAX_DETAIL) -> str:
    """Printable text only: control and format characters (terminal escapes, bidi overrides) become '?'."""
    from roost.output import plain

    return plain(text, limit=limit)


def parse_event(raw: bytes, spec: Spec) -> Event:
    """An event written by the app's user: exactly the expected keys and values, or refused."""
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict) or not set(data) <= {"kind", "container", "detail"}:
        raise ValueError("not an event object")
    kind, container, detail = data.get("kind"), data.get("container"), data.get("detail", "")
    if kind not in USER_KINDS:
        raise ValueError("unknown kind")
    if container is not None and (not isinstance(container, str) or container not in spec.containers):
        raise ValueError("unknown container")
    if kind == "container-failed" and container is None:
        raise ValueError("container-failed names no container")
    if not isinstance(detail, str):
        detail = "(an event without readable text)"
    return Event(kind, clean(detail), container)


def message(app_name: str, event: Event) -> tuple[str, str]:
    headline = {**USER_KINDS, **ROOT_KINDS}[event.kind].format(container=event.container or "")
    host = clean(os.uname().nodename, 64)
    body = clean(event.detail) or headline
    return f"roost {app_name}: {headline}", f"{body}\n\n(app {app_name} on {host}; `roost status {app_name}`)"


# -- root: send --------------------------------------------------------------------------
def _throttled(name: str, event: Event, now: float) -> bool:
    if event.kind == "test":
        return False
    path = os.path.join(state_dir(name), SENT_FILE)
    try:
        with open(path) as fh:
            sent = json.loads(fh.read(65536))
        if not isinstance(sent, dict):
            sent = {}
    except (OSError, ValueError):
        sent = {}
    key = f"{event.kind}/{event.container or ''}"
    last = sent.get(key, 0)
    if isinstance(last, (int, float)) and now - last < THROTTLE_S:
        return True
    sent = {k: v for k, v in sent.items() if isinstance(v, (int, float)) and now - v < THROTTLE_S}
    sent[key] = now
    os.makedirs(state_dir(name), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=state_dir(name), prefix=".sent-")
    with os.fdopen(fd, "w") as fh:
        json.dump(sent, fh)
    os.replace(tmp, path)
    return False


def send(name: str, event: Event) -> str:
    """Send one event to the app's URLs (as root). Returns what happened, never a URL."""
    urls = read_stored(name)
    if not urls:
        return "no notification URLs for this app"
    if _throttled(name, event, time.time()):
        return f"not sent: a {event.kind} message went out less than {THROTTLE_S // 60} minutes ago"
    import apprise  # ~0.3 s: only when a message goes out

    title, body = message(name, event)
    sender = apprise.Apprise()
    added = sum(1 for u in urls if sender.add(u))
    if not added:
        raise RoostError(f"none of the {len(urls)} notification URLs of {name} is understood by Apprise",
                         hint=f"check the file the spec's notify.urls_file names, then `roost apply` and "
                              f"`roost notify test {name}`")
    if not sender.notify(title=title, body=body):
        raise RoostError(f"sending the notification failed for at least one of {added} URL(s)",
                         hint="see the messages above (URLs are never shown); check the service is reachable")
    return f"sent to {added} URL(s)"


# -- the app's user: hand over to root ------------------------------------------------------
def spool(name: str, event: Event) -> str:
    """Write the event into the app's spool directory (as the app user); root picks it up."""
    directory = spool_dir(name)
    if not os.path.isdir(directory):
        return "notifications are not set up for this app"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    with os.fdopen(fd, "w") as fh:
        fh.write(event.to_json())
    os.replace(tmp, os.path.join(directory, f"event-{time.time_ns()}-{os.getpid()}.json"))
    return "handed to root"


def emit(app: App, event: Event) -> str:
    """Report an event from wherever roost runs: root sends, the app's user spools. Never raises:
    a notification must not change the outcome of what it reports."""
    if app.spec.notify is None:
        return "no [notify] in the spec"
    try:
        return send(app.spec.name, event) if os.geteuid() == 0 else spool(app.spec.name, event)
    except (RoostError, OSError) as e:
        return f"notification failed: {e}"


def emit_for_update(app: App, report) -> str:
    changed = ", ".join(f"{c} (tried {(report.tried[c].digest if c in report.tried else '?')[:19]})" for c in report.changed)
    kind = "update-rolled-back" if report.result == "rolled-back" else "update-failed"
    return emit(app, Event(kind, f"{changed}: {report.error or 'not healthy'}"))


def history_lines(text: str) -> list[dict]:
    """The last entries of a history (the copy in the home: untrusted, read bounded)."""
    from roost import history

    return history.parse("\n".join(text.splitlines()[-200:]))


def since(history: list[dict], started: float | None) -> list[dict]:
    """The entries written at or after `started` (Unix time; None: all). A stale entry of an
    earlier night must not be reported again."""
    if started is None:
        return history
    from datetime import datetime

    out = []
    for e in history:
        try:
            when = datetime.strptime(str(e.get("time", "")), "%Y-%m-%dT%H:%M:%S%z").timestamp()
        except ValueError:
            continue
        if when >= started - 1:  # the history's time stamps are whole seconds
            out.append(e)
    return out


def lock_problem(lock_file: str) -> str | None:
    """Why the app's user cannot take its app's lock (so its pre-update backup died before it
    could record anything), or None."""
    try:
        os.close(os.open(lock_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC))
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"the pre-update backup could not take the app's lock {lock_file} ({e.strerror})"
    return None


def nightly_outcome(history: list[dict], service_result: str, exit_status: str, blocked: str | None = None
                    ) -> Event | None:
    """What the last run of podman-auto-update.service amounts to, from the app's history: the
    pre-update backup (ExecStartPre=) and the restarts podman asked roost for (restart-changed).
    `blocked`: why the backup could not even start (lock_problem)."""
    start = max((i for i, e in enumerate(history)
                 if e.get("action") == "backup" and e.get("reason") == "pre-auto-update"), default=None)
    if start is not None and history[start].get("result") == "failed":
        return Event("auto-update-skipped", f"the pre-update backup failed, so nothing was updated: "
                                            f"{history[start].get('error', '?')}")
    runs = [e for e in history[(start + 1 if start is not None else 0):] if e.get("action") == "auto-update"]
    failed = [e for e in runs if e.get("result") == "failed"]
    if failed and runs[-1].get("result") == "updated":
        tried = ", ".join(f"{c} tried {v.get('digest', '?')[:19]}" for c, v in failed[0].get("tried", {}).items())
        restored = ", ".join(f"{c} restored {v.get('digest', '?')[:19]}" for c, v in runs[-1].get("after", {}).items()
                             if c in failed[0].get("tried", {}))
        return Event("auto-update-rolled-back", f"{failed[0].get('error', 'not healthy')}; {tried}; {restored}")
    if failed:
        return Event("auto-update-failed", f"{failed[-1].get('error', 'not healthy')}; the rollback failed too")
    if service_result != "success":
        if start is None and blocked:
            return Event("auto-update-skipped", f"{blocked}, so nothing was updated; as root: `roost reapply` "
                                                "the app (it gives the lock the app's group)")
        return Event("auto-update-failed", f"podman auto-update ended with {service_result} "
                                           f"(status {exit_status or 'unknown'}); nothing in the app's history "
                                           "says why: see `roost logs` of the app")
    return None


# -- root: read the spool --------------------------------------------------------------------
def read_spool(name: str, uid: int, now: float | None = None) -> tuple[list[bytes], int]:
    """(raw events, how many were dropped). Opens nothing by path inside the user's directory:
    one fd for the directory (no links, owned by the app's user), names matched, each file
    opened relative to it without following links or blocking, checked to be a regular file of
    the user with one link, read up to a bound, then removed. Whatever else is there goes too
    (a directory, a `.tmp-` file older than TMP_GRACE_S): the path unit starts the flush while
    the directory is not empty, so an entry left behind would restart it until systemd gives up
    and every later alert is lost."""
    root_fd = os.open(SPOOL_ROOT, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root_fd)
    finally:
        os.close(root_fd)
    events: list[bytes] = []
    dropped = 0
    now = time.time() if now is None else now
    try:
        st = os.fstat(fd)
        if st.st_uid != uid:
            raise RoostError(f"{spool_dir(name)} is not owned by the app's user: refused")
        for entry in sorted(os.listdir(fd)):
            if entry.startswith(".tmp-"):
                if _age(entry, fd, now) > TMP_GRACE_S:  # a writer that died, or one that never ends
                    _remove(entry, fd)
                continue
            if not EVENT_NAME.match(entry) or len(events) >= MAX_EVENTS:
                dropped += 1
                _remove(entry, fd)
                continue
            raw = _read_one(entry, fd, uid)
            _remove(entry, fd)
            if raw is None:
                dropped += 1
            else:
                events.append(raw)
    finally:
        os.close(fd)
    return events, dropped


def _age(entry: str, dir_fd: int, now: float) -> float:
    try:
        return now - os.stat(entry, dir_fd=dir_fd, follow_symlinks=False).st_mtime
    except OSError:
        return 0.0


def _read_one(entry: str, dir_fd: int, uid: int) -> bytes | None:
    try:
        efd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(efd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid or st.st_nlink != 1 or st.st_size > MAX_EVENT_BYTES:
            return None
        return os.read(efd, MAX_EVENT_BYTES + 1)[:MAX_EVENT_BYTES]
    finally:
        os.close(efd)


def _remove(entry: str, dir_fd: int) -> None:
    """Remove a name of the spool: a file or link itself (never its target), a directory with
    everything in it, walked by fd without following links (shutil.rmtree's fd-based walk)."""
    try:
        if stat.S_ISDIR(os.stat(entry, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            import shutil

            shutil.rmtree(entry, dir_fd=dir_fd)
        else:
            os.unlink(entry, dir_fd=dir_fd)
    except OSError:
        pass  # already gone


def _pending_tmp(name: str) -> bool:
    try:
        return any(e.startswith(".tmp-") for e in os.listdir(spool_dir(name)))
    except OSError:
        return False


def flush(name: str, uid: int, spec: Spec, say=print) -> int:
    """Send every pending event of the app (root). Returns how many were sent."""
    raws, dropped = read_spool(name, uid)
    if _pending_tmp(name):  # a writer at work: its event is a moment away; later, a stuck one goes
        time.sleep(TMP_GRACE_S + 0.5)
        more, more_dropped = read_spool(name, uid)
        raws, dropped = raws + more, dropped + more_dropped
    sent = 0
    for raw in raws:
        try:
            event = parse_event(raw, spec)
        except (ValueError, UnicodeDecodeError):
            dropped += 1
            continue
        try:
            say(f"{event.kind}: {send(name, event)}")
            sent += 1
        except RoostError as e:
            say(f"{event.kind}: {e.message}")
    if dropped:
        say(f"dropped {dropped} malformed or excess event file(s) from {spool_dir(name)}")
    return sent
