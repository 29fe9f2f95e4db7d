"""The converged fast path of `roost apply` and `roost plan`.

The plan is a pure function of roost's code, the spec and the files beside it, and what the pipeline
reads of the host (every read goes through the one `Host`, host/state.py). So when a run finds nothing
to change, roost keeps which reads it made and a digest of each answer (root's cache, no values).
The next run of the same spec makes exactly those reads again, side by side, before it imports the
model, the renderer and the planner: if every answer is the same, the plan is the same empty plan, and
it is printed as such. Any difference (a file, a unit, an image, a user, another app's record, roost's
own code) is a miss, and the whole pipeline runs as before. The cache only ever skips work that would
find nothing; it never decides a change.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roost.errors import RoostError
from roost.host import safefs
from roost.host.runner import AppUser, Host, Result
from roost.layout import CONVERGED_CACHE
from roost.spec import beside

if TYPE_CHECKING:
    from roost.apply import Prepared

log = logging.getLogger("roost")

READERS = 8  # reads at a time: most of each is a command as the app's user waiting on podman
FILE_READS = ("read_file", "stat", "exists", "list_dir", "check_no_links")  # the Host's, besides `run`


def _digest(answer: Any) -> str:
    return hashlib.sha256(repr(answer).encode()).hexdigest()


def _answer(r: Result) -> tuple[int, str, str]:
    return (r.returncode, r.stdout, r.stderr)


def _user(user: AppUser | None) -> list[Any] | None:
    return None if user is None else [user.name, user.uid, user.home]


class Recording:
    """A Host that notes each read it answers, with a digest of the answer. Writes, masks and secrets
    go to the host it wraps. `clean` turns False when a read failed, was not a pure read, or gave two
    answers in one run: such a run is not remembered."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self.reads: dict[str, tuple[list[Any], str]] = {}
        self.clean = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._host, name)

    def note(self, read: list[Any], answer: Any) -> None:
        key = json.dumps(read)
        digest = _digest(answer)
        if self.reads.setdefault(key, (read, digest))[1] != digest:
            self.clean = False

    def _read(self, method: str, path: str) -> Any:
        try:
            answer = getattr(self._host, method)(path)
        except Exception:
            self.clean = False
            raise
        self.note([method, path], answer)
        return answer

    def run(self, argv: list[str], *, user: AppUser | None = None, stdin: str | None = None, mutates: bool = False,
            check: bool = True, timeout: float | None = None) -> Result:
        try:
            r = self._host.run(argv, user=user, stdin=stdin, mutates=mutates, check=check, timeout=timeout)
        except Exception:
            self.clean = False
            raise
        if mutates or stdin is not None:
            self.clean = False
        else:
            self.note(["run", list(argv), _user(user), timeout], _answer(r))
        return r

    def read_file(self, path: str) -> Any:
        return self._read("read_file", path)

    def stat(self, path: str) -> Any:
        return self._read("stat", path)

    def exists(self, path: str) -> Any:
        return self._read("exists", path)

    def list_dir(self, path: str) -> Any:
        return self._read("list_dir", path)

    def check_no_links(self, path: str) -> Any:
        return self._read("check_no_links", path)


@contextmanager
def recording(host: Host) -> Iterator[Recording]:
    """Record the host's reads and the spec's own files (the spec, env files, the URLs file)."""
    rec = Recording(host)
    with beside.watching() as files:
        yield rec
    for read, text in files:
        rec.note(read, text)


@dataclass(frozen=True)
class Memo:
    """What a converged run of one spec read, and what it printed."""

    app: str
    home: str
    notes: list[str]
    reads: list[tuple[list[Any], str]] = field(default_factory=list)


@functools.cache
def code_key() -> str:
    """roost's own code and how it runs: a change to any of it is a miss."""
    from roost.command import roost_command

    package = os.path.dirname(os.path.abspath(__file__))
    files = []
    for root, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for n in sorted(names):
            if n.endswith(".py"):
                st = os.stat(os.path.join(root, n))
                files.append((os.path.relpath(os.path.join(root, n), package), st.st_size, st.st_mtime_ns))
    return _digest((sys.version, roost_command(), os.geteuid(), files))


def _cache_file(spec_path: str) -> str:
    return os.path.join(CONVERGED_CACHE, hashlib.sha256(spec_path.encode()).hexdigest()[:32] + ".json")


def remember(prep: Prepared, rec: Recording) -> None:
    """Keep the reads of a run that found nothing to change, for the next run of the same spec (root's own
    cache: a failure to write it only costs the next run its shortcut)."""
    if not prep.plan.empty:
        return
    if not rec.clean:
        forget(prep.spec_path)
        return
    data = {"code": code_key(), "spec": prep.spec_path, "app": prep.spec.name, "home": prep.spec.home,
            "notes": prep.plan.notes, "reads": [rec.reads[k] for k in sorted(rec.reads)]}
    try:
        os.makedirs(CONVERGED_CACHE, mode=0o700, exist_ok=True)
        safefs.write_file(_cache_file(prep.spec_path), json.dumps(data).encode(), 0o600, 0, 0)
    except (OSError, RoostError) as e:
        log.debug("converged cache not written: %s", e)


def forget(spec_path: str) -> None:
    try:
        os.unlink(_cache_file(spec_path))
    except OSError:
        pass


def load(spec: str) -> Memo | None:
    """The memo of the last converged run of this spec (a path, resolved as `prepare` does) by this code."""
    spec_path = str(Path(spec).resolve())
    try:
        with open(_cache_file(spec_path), encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("spec") != spec_path or data.get("code") != code_key():
            return None
        return Memo(data["app"], data["home"], list(data["notes"]),
                    [(list(read), str(digest)) for read, digest in data["reads"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _again(host: Host, read: list[Any]) -> Any:
    """Make one remembered read again; its answer, in the form the recording digested."""
    kind = read[0]
    if kind == "run":
        _, argv, user, timeout = read
        who = AppUser(user[0], int(user[1]), user[2]) if user else None
        return _answer(host.run(argv, user=who, check=False, timeout=timeout))
    if kind == "spec":
        return beside.read_spec(read[1]).text
    if kind == "beside":
        return beside.read_beside(read[1], read[2], read[3])
    if kind in FILE_READS:
        return getattr(host, kind)(read[1])
    raise ValueError(f"not a read: {kind!r}")


def _first(item: tuple[list[Any], str]) -> int:
    """Commands as the app's user first (podman takes the longest), then root's, then files."""
    read = item[0]
    return (0 if read[2] else 1) if read[0] == "run" else 2


def read_again(memos: list[Memo], host: Host) -> Callable[[], bool]:
    """Start every read of the memos again, side by side; the returned call waits and says whether
    each answered as it did (an error is a difference: the pipeline will meet it and say what it is)."""

    def same(item: tuple[list[Any], str]) -> bool:
        read, digest = item
        try:
            answer = _again(host, read)
        except Exception as e:
            log.debug("converged cache: %s failed again: %s", read[:2], e)
            return False
        if _digest(answer) != digest:
            log.debug("converged cache: %s answers differently", read[:2])
            return False
        return True

    wanted: dict[str, tuple[list[Any], str]] = {}  # apps share reads (passwd, ports, podman's version): once each
    for memo in memos:
        for read, digest in memo.reads:
            if wanted.setdefault(json.dumps(read), (read, digest))[1] != digest:
                return lambda: False  # two runs saw one read answer differently: not both can still hold
    pool = ThreadPoolExecutor(max_workers=READERS)
    futures = [pool.submit(same, item) for item in sorted(wanted.values(), key=_first)]
    pool.shutdown(wait=False)

    def wait() -> bool:
        same_all = all([f.result() for f in futures])
        if same_all:
            log.debug("converged cache: all %d reads answered as before", len(futures))
        return same_all

    return wait


def unchanged(memo: Memo, host: Host) -> bool:
    return read_again([memo], host)()
