"""Commands as an app user never share root's session (issue 17, item 1): checked for real on
this machine (as the current user, the nightly hooks' path) and, for root's path, in the argv
the Runner builds (the lab runs it: tests/e2e/test_boundary_session.py)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from roost.errors import RoostError
from roost.host import runner as runner_mod
from roost.host.runner import AppUser, Runner


@pytest.fixture
def me(tmp_path) -> AppUser:
    return AppUser("me", os.geteuid(), str(tmp_path))


def test_a_command_as_the_user_runs_in_a_new_session_without_a_terminal_at_root(me):
    r = Runner(audit_log=None).run(
        ["sh", "-c", 'echo "$$ $(cut -d" " -f6,7 /proc/self/stat)"; pwd; readlink /proc/self/fd/0; env | sort'],
        user=me)
    first, cwd, stdin, *env = r.stdout.splitlines()
    pid, sid, tty = first.split()[0], *first.split()[1:]
    # the shell's child (cut) is in the shell's session: the shell leads a session of its own
    assert sid == pid and tty == "0", first
    assert (cwd, stdin) == ("/", "/dev/null")
    assert {line.split("=", 1)[0] for line in env} <= {*me.env(), "PWD", "SHLVL", "_", "OLDPWD"}


def test_a_timeout_kills_what_the_command_left_behind(me):
    started = time.monotonic()
    with pytest.raises(RoostError, match="timed out after 1s"):
        Runner(audit_log=None).run(["sh", "-c", "sleep 31.25 & sleep 31.25"], user=me, timeout=1)
    assert time.monotonic() - started < 10
    time.sleep(0.2)
    left = subprocess.run(["pgrep", "-f", "sleep 31.25"], capture_output=True, text=True, check=False)
    assert left.stdout == "", "a child of the timed-out command survived"


def test_root_enters_the_users_slice_through_a_scope_and_drops_to_its_ids(monkeypatch, tmp_path):
    monkeypatch.setattr(runner_mod, "SYSTEMD", str(tmp_path))  # as on a host with systemd as PID 1
    user = AppUser("nobody", 65534, "/nonexistent")
    if os.geteuid() == user.uid:
        pytest.skip("runs as nobody")
    argv = Runner(audit_log=None).wrap(["podman", "ps"], user, timeout=20, scope="roost-nobody-x")
    scope = argv[:argv.index("--") + 1]
    assert scope[:2] == ["systemd-run", "--scope"] and "--slice=user-65534.slice" in scope
    assert "--unit=roost-nobody-x" in scope and "RuntimeMaxSec=21" in scope
    rest = argv[len(scope):]
    assert rest[:5] == ["setpriv", "--reuid=65534", f"--regid={__import__('pwd').getpwnam('nobody').pw_gid}",
                        "--init-groups", "--"]
    assert rest[5:7] == ["env", "-i"] and rest[-2:] == ["podman", "ps"]
    assert "runuser" not in argv  # runuser keeps root's session and terminal


def test_stdin_is_handed_over_and_nothing_else(me):
    r = Runner(audit_log=None).run(["cat"], user=me, stdin="given")
    assert r.stdout == "given"
