"""The app lock carries the app's group from the moment the group exists (issue 17, item 8)."""

from __future__ import annotations

import os
import stat

import pytest

from roost import lock, notify

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lock's owner is set by root")


@pytest.fixture
def groups(tmp_path, monkeypatch) -> dict[str, int]:
    known: dict[str, int] = {}
    monkeypatch.setattr(lock, "LOCK_DIR", str(tmp_path))
    monkeypatch.setattr(lock, "_gid", lambda group: known.get(group or "", 0))
    return known


def test_a_lock_made_before_the_group_gets_it_when_let_go(tmp_path, groups):
    path = str(tmp_path / "app.lock")
    with lock.app_lock(path, "app", say=lambda m: None):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # no group yet: root's alone
        groups["app"] = 4321  # the apply creates the app's group
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 4321, 0o640)


def test_a_lock_with_a_stale_group_is_given_the_current_one(tmp_path, groups):
    path = str(tmp_path / "app.lock")
    groups["app"] = 5000
    with lock.app_lock(path, "app", say=lambda m: None):
        pass
    groups["app"] = 5001  # the group was made again (another app of that name)
    with lock.app_lock(path, "app", say=lambda m: None):
        assert os.stat(path).st_gid == 5001


def test_the_nightly_notice_names_a_lock_the_user_cannot_open(tmp_path):
    path = tmp_path / "app.lock"
    path.write_text("")
    os.chmod(path, 0o600)
    pid = os.fork()
    if pid == 0:  # as another user, the way the app's pre-update backup meets it
        os.setgid(65534)
        os.setuid(65534)
        os._exit(0 if notify.lock_problem(str(path)) else 1)
    assert os.waitpid(pid, 0)[1] == 0
    event = notify.nightly_outcome([], "exit-code", "", f"the pre-update backup could not take the app's lock {path}")
    assert event is not None and event.kind == "auto-update-skipped"
    assert str(path) in event.detail and "roost reapply" in event.detail
    unknown = notify.nightly_outcome([], "exit-code", "")
    assert unknown is not None and "(status )" not in unknown.detail and "roost logs" in unknown.detail
    assert notify.lock_problem(str(tmp_path / "missing.lock")) is None


def test_a_lock_held_elsewhere_is_waited_for_a_bounded_time(tmp_path, groups):
    import fcntl
    import time

    path = str(tmp_path / "app.lock")
    with lock.app_lock(path, "app", say=lambda m: None):
        pass
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # another holder (e.g. the app's user) keeps it
        fd = os.open(path, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(write, b"x")
        time.sleep(5)
        os._exit(0)
    os.read(read, 1)
    said: list[str] = []
    started = time.monotonic()
    try:
        with pytest.raises(lock.LockBusy, match="app app is locked"), lock.app_lock(path, "app", 1, said.append):
            pass
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert time.monotonic() - started < 3 and said and "waiting for" in said[0]


def test_apply_takes_the_apps_locks_before_the_hosts():
    """The global lock is never held while waiting for an app's lock, which its user can hold."""
    import inspect

    from roost.cli import apply, reapply

    for verb in (apply.apply.callback, reapply.reapply.callback):
        src = inspect.getsource(verb)  # type: ignore[arg-type]
        assert src.index("locked(") < src.index("global_lock("), verb
