"""The `lab` fixture: one real systemd + rootless Podman host per test session.

It boots a fresh machine through the same code as `roost lab up` (the build cache under
/var/cache/roost/lab is reused; the machine's disk is thrown away at the end). If the lab
cannot start, the tests FAIL with the reason: a skipped e2e suite would look green.

    def test_something(lab):
        lab.exec(["roost", "apply", "/root/specs/notes.toml"])
        assert lab.http("GET", "http://127.0.0.1:8388/status").status == 200

Env: ROOST_LAB (machine name, default roost-test), ROOST_LAB_KEEP=1 (leave it running after
the session, to poke at it with `roost lab shell roost-test`).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import pytest

from roost.errors import RoostError
from roost.lab import images
from roost.lab import up as lab_up
from roost.lab.machine import Machine, User

LAB_NAME = os.environ.get("ROOST_LAB", "roost-test")


@dataclass(frozen=True)
class Response:
    status: int
    body: str
    headers: Message = field(repr=False)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        return None  # a 303 after POST is an answer to check, not to follow


_opener = urllib.request.build_opener(_NoRedirect)


@dataclass
class Lab:
    """A booted lab host. Commands run inside as root (or `user=`) with a clean environment."""

    machine: Machine
    postgres_image: str = ""
    notes_image: str = images.notes_ref("latest")
    registry: str = images.config.REGISTRY

    @property
    def name(self) -> str:
        return self.machine.name

    @property
    def rootfs(self) -> Path:
        """The lab's / as seen from the machine (to drop files in; /tmp and /run are not on it)."""
        return self.machine.rootfs

    def exec(
        self,
        argv: Sequence[str],
        check: bool = True,
        *,
        user: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        """Run argv inside; as `user` it gets the lingering user's runtime dir and bus.
        check=True fails the test with the command's output."""
        who = None
        if user is not None:
            uid = self.machine.exec(["id", "-u", user]).stdout.strip()
            who = User(user, int(uid))
        full = self.machine.argv(argv, user=who, env={"HOME": who.home if who else "/root", **(env or {})})
        cp = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)
        if check and cp.returncode != 0:
            pytest.fail(
                f"in lab {self.name}{f' as {user}' if user else ''}: {' '.join(argv)} -> exit {cp.returncode}\n"
                f"--- stdout\n{cp.stdout}--- stderr\n{cp.stderr}",
                pytrace=False,
            )
        return cp

    def add_user(self, name: str, uid: int) -> None:
        """An ordinary user with linger (subordinate ids allocated by useradd), ready for rootless podman."""
        if self.exec(["id", name], check=False).returncode != 0:
            self.exec(["useradd", "--create-home", "--uid", str(uid), "--shell", "/bin/bash", name])
        self.exec(["loginctl", "enable-linger", name])
        self.wait(lambda: self.exec(["test", "-S", f"/run/user/{uid}/bus"], check=False).returncode == 0,
                  f"user manager of {name}")  # fmt: skip

    def http(self, method: str, url: str, data: dict[str, str] | bytes | None = None, timeout: float = 10) -> Response:
        """An HTTP request from the machine side (the lab shares its network). Redirects are
        not followed; HTTP errors are returned as responses; connection errors raise."""
        body = urllib.parse.urlencode(data).encode() if isinstance(data, dict) else data
        req = urllib.request.Request(url, data=body, method=method)
        try:
            with _opener.open(req, timeout=timeout) as r:
                return Response(r.status, r.read().decode(errors="replace"), r.headers)
        except urllib.error.HTTPError as e:
            return Response(e.code, e.read().decode(errors="replace"), e.headers)

    def wait_http(self, url: str, status: int = 200, timeout: float = 120) -> Response:
        """Poll url until it answers with status (connection errors count as not yet)."""
        last: object = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                last = self.http("GET", url, timeout=5)
                if last.status == status:
                    return last
            except (urllib.error.URLError, OSError) as e:
                last = e
            time.sleep(0.5)
        pytest.fail(f"{url} did not answer {status} within {timeout:.0f}s (last: {last})", pytrace=False)

    def wait(self, cond: object, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():  # type: ignore[operator]
                return
            time.sleep(0.3)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}", pytrace=False)

    def reboot(self) -> str:
        """Power off, boot again from the same disk, wait until systemd is up; returns its state."""
        return lab_up.reboot(self.machine)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    machine = Machine(LAB_NAME)
    try:
        if machine.dir.exists() and not machine.running:
            lab_up.down(machine)  # leftover of an earlier session: start clean
        machine = lab_up.up(LAB_NAME)
    except RoostError as e:
        pytest.fail(f"the lab could not start: {e.message}" + (f"\nhint: {e.hint}" if e.hint else ""), pytrace=False)
    tags = images.registry_tags("roost-lab/postgres")
    booted = Lab(machine, postgres_image=images.postgres_ref(next(t for t in tags if t.isdigit())))
    yield booted
    if os.environ.get("ROOST_LAB_KEEP") != "1":
        lab_up.down(booted.machine)  # (test_offsite replaces the machine with a freshly booted one)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_offsite destroys the session's lab and recovers into a new one (a disaster drill): it runs last."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/e2e/test_offsite.py"))


# --- helpers shared by the e2e modules -----------------------------------------------------------------------------

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "lab-notes.toml").read_text()
NOTES_UID = 2100  # the example's own app (tests/e2e/test_golden_path.py)


def notes_spec(name: str, uid: int, port: int, *, notes_tag: str | None = None, postgres_tag: str | None = None,
               app: str = "", tail: str = "") -> str:
    """The lab notes example as another app: its name, UID and host port (so that modules sharing
    the lab do not collide), other image tags, extra `[app]` lines (`app`), extra tables (`tail`).
    Each piece it replaces must be in the example: a change there fails here, not silently."""
    edits = [('name = "notes"', f'name = "{name}"' + (f"\n{app}" if app else "")), ("uid = 2100", f"uid = {uid}"),
             ("127.0.0.1:8388:3000", f"127.0.0.1:{port}:3000")]
    if notes_tag is not None:
        edits.append(("roost-lab/notes:latest", f"roost-lab/notes:{notes_tag}"))
    if postgres_tag is not None:
        edits.append(("roost-lab/postgres:17", f"roost-lab/postgres:{postgres_tag}"))
    text = EXAMPLE
    for old, new in edits:
        assert old in text, f"examples/lab-notes.toml no longer has {old!r}: update notes_spec()"
        text = text.replace(old, new, 1)
    return text + tail


def as_app(lab: Lab, *argv: str, uid: int = NOTES_UID, name: str = "notes", check: bool = True
           ) -> subprocess.CompletedProcess[str]:
    """argv as an app's user (the example's by default)."""
    return lab.exec(app_argv(name, uid, argv), check=check)


def put(lab: Lab, path: str, text: str) -> None:
    """Write a file inside the lab (as root, through its root file system)."""
    lab.exec(["mkdir", "-p", str(Path(path).parent)])
    target = lab.rootfs / path.lstrip("/")
    target.write_text(text)


def roost(lab: Lab, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return lab.exec(["roost", *args], check=check, timeout=600)


def app_argv(name: str, uid: int, argv: Sequence[str]) -> list[str]:
    """argv run as an app user (whose home is not /home/NAME), with its runtime dir and bus."""
    env = [f"XDG_RUNTIME_DIR=/run/user/{uid}", f"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus"]
    return ["runuser", "-u", name, "--", "env", *env, *argv]


def http(method: str, url: str, data: dict | None = None, timeout: float = 5) -> tuple[int, str]:
    """(status, body); status 0 when nothing answers."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


class Probe:
    """A client loop in a thread while something changes: counts good and failed answers, the slowest answer and
    the longest gap between good ones. `attempt` returns None for a good answer, else what went wrong."""

    def __init__(self, attempt: Callable[[], str | None], interval: float = 0.05, limit_s: float = 600) -> None:
        self.attempt, self.interval, self.limit = attempt, interval, limit_s
        self.ok = 0
        self.failures: list[str] = []
        self.slowest = self.longest_gap = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        last_ok = time.monotonic()
        deadline = last_ok + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            result = self.attempt()
            now = time.monotonic()
            if result is None:
                self.ok += 1
                self.slowest = max(self.slowest, now - started)
                self.longest_gap = max(self.longest_gap, now - last_ok)
                last_ok = now
            else:
                self.failures.append(result)
            time.sleep(self.interval)

    @property
    def failed(self) -> int:
        return len(self.failures)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def __str__(self) -> str:
        return (f"{self.failed} failed of {self.ok + self.failed}, slowest answer {self.slowest * 1000:.0f} ms, "
                f"longest gap {self.longest_gap * 1000:.0f} ms")


def get_ok(url: str) -> Callable[[], str | None]:
    """A Probe attempt: GET url answers 200."""
    def attempt() -> str | None:
        code, body = http("GET", url, timeout=2)
        return None if code == 200 else f"{code} {body[:80]!r}"
    return attempt


def wait_http(url: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        code, body = http("GET", url)
        if code == 200:
            return body
        last = f"{code} {body[:200]}"
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer 200 within {timeout}s (last: {last})")


# What a host digest covers: path -> [type, mode, uid, gid, size, mtime_ns, link target, sha256 of small files].
# Runs inside the lab; never follows links; podman's root storage is skipped (rootless apps keep theirs in homes).
DIGEST_ROOTS = ("/etc", "/root", "/usr/local", "/var/lib")
DIGEST_SKIP = ("/var/lib/containers",)
_DIGEST_SCRIPT = r"""
import hashlib, json, os, stat, sys
roots, skip = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
out = {}
def entry(path):
    st = os.lstat(path)
    kind = stat.S_IFMT(st.st_mode)
    row = [kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size if not stat.S_ISDIR(st.st_mode) else 0,
           st.st_mtime_ns, os.readlink(path) if stat.S_ISLNK(st.st_mode) else None, None]
    if stat.S_ISREG(st.st_mode) and st.st_size <= 65536:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as fh:
                row[7] = hashlib.sha256(fh.read()).hexdigest()
        except OSError as e:
            row[7] = f"unreadable: {e.errno}"
    out[path] = row
for root in roots:
    if not os.path.lexists(root):
        continue
    entry(root)
    for top, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if os.path.join(top, d) not in skip]
        for name in dirs + files:
            try:
                entry(os.path.join(top, name))
            except FileNotFoundError:
                pass
json.dump(out, sys.stdout, separators=(",", ":"))
"""


def host_digest(lab: Lab, roots: Sequence[str] = DIGEST_ROOTS, skip: Sequence[str] = DIGEST_SKIP) -> dict[str, list]:
    """A digest of everything under roots in the lab (see DIGEST_ROOTS), to compare before and after a verb."""
    import json

    cp = lab.exec(["python3", "-c", _DIGEST_SCRIPT, json.dumps(list(roots)), json.dumps(list(skip))], timeout=120)
    return json.loads(cp.stdout)


def digest_changes(before: dict[str, list], after: dict[str, list], allowed: Sequence[str] = ()) -> list[str]:
    """What differs, as readable lines. `allowed` names exact paths; a trailing /** also allows what is below;
    PATH@mtime allows only PATH's mtime to change (a directory whose entries roost legitimately replaced)."""
    def ok(path: str) -> bool:
        for a in allowed:
            if a.endswith("/**") and (path == a[:-3] or path.startswith(a[:-2])):
                return True
            if path == a:
                return True
            if a == f"{path}@mtime" and path in before and path in after:  # only its mtime may differ
                return [v for i, v in enumerate(before[path]) if i != 5] == [v for i, v in enumerate(after[path]) if i != 5]
        return False

    lines = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) == after.get(path) or ok(path):
            continue
        if path not in after:
            lines.append(f"removed {path}")
        elif path not in before:
            lines.append(f"created {path} {after[path][:7]}")
        else:
            what = ["type", "mode", "uid", "gid", "size", "mtime", "link", "content"]
            diffs = [f"{w} {b!r}->{a!r}" for w, b, a in zip(what, before[path], after[path], strict=True) if b != a]
            lines.append(f"changed {path}: {', '.join(diffs)}")
    return lines


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item (rep_setup, rep_call), so fixtures can see how a test ended."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


# --- the adversarial modules' ledger: every path tried, and whether it held ------------------------------------------

def print_paths(label: str, results: list[tuple[str, bool]]) -> None:
    """The summary each adversarial module prints at its end; the count is what the issues compare."""
    print(f"\n{label} paths:")
    for path, ok in results:
        print(f"  {'held    ' if ok else 'NOT HELD'}  {path}")
    print(f"{label}: paths tried: {len(results)}, held: {sum(ok for _, ok in results)}")


def count_failed_test(request: pytest.FixtureRequest, results: list[tuple[str, bool]]) -> Iterator[None]:
    """Wrap a test so that one failing before or outside its `held` block still counts as a path tried, not held."""
    seen = len(results)
    yield
    rep = getattr(request.node, "rep_call", None)
    if (rep is None or rep.failed) and len(results) == seen:
        results.append((request.node.name, False))
