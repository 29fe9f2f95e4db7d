"""Runner.pipe and non-UTF-8 output, for real on this machine (as the current user: no runuser)."""

from __future__ import annotations

import hashlib
import os

import pytest

from roost.errors import RoostError
from roost.host.runner import AppUser, Runner


@pytest.fixture
def runner() -> Runner:
    return Runner(audit_log=None)


@pytest.fixture
def me(tmp_path) -> AppUser:
    return AppUser("me", os.geteuid(), str(tmp_path))


def test_pipe_streams_every_byte_past_the_tap_into_the_sink(runner, me, tmp_path):
    out = tmp_path / "out"
    seen = hashlib.sha256()
    r = runner.pipe(["head", "-c", "3000000", "/dev/urandom"], ["dd", f"of={out}", "conv=excl", "status=none"],
                    user=me, tap=seen.update)
    assert r.ok
    assert seen.hexdigest() == hashlib.sha256(out.read_bytes()).hexdigest() and out.stat().st_size == 3_000_000
    assert any(" | dd of=" in line for line in runner.record)  # audited as one mutation


def test_pipe_never_writes_through_a_planted_link(runner, me, tmp_path):
    target = tmp_path / "target"
    (tmp_path / "link").symlink_to(target)
    r = runner.pipe(["printf", "x"], ["dd", f"of={tmp_path / 'link'}", "conv=excl", "status=none"], user=me)
    assert not r.ok and "File exists" in r.stderr and not target.exists()


def test_pipe_reports_the_source_failure_first(runner, me, tmp_path):
    r = runner.pipe(["sh", "-c", "printf half; echo 'pg_dump: connection lost' >&2; exit 3"],
                    ["dd", f"of={tmp_path / 'o'}", "status=none"], user=me)
    assert (r.returncode, r.argv[0], r.stderr.strip()) == (3, "sh", "pg_dump: connection lost")


def test_a_tap_that_refuses_stops_both_sides(runner, me):
    def refuse(chunk: bytes) -> None:
        raise RoostError("member is a symbolic link")

    with pytest.raises(RoostError, match="symbolic link"):
        runner.pipe(["yes"], ["cat"], user=me, tap=refuse)


def test_pipe_times_out(runner, me):
    with pytest.raises(RoostError, match="timed out after 1s"):
        runner.pipe(["sleep", "20"], ["cat"], user=me, timeout=1)


def test_pipe_refuses_in_dry_run(me):
    with pytest.raises(RoostError, match="dry-run"):
        Runner(dry_run=True, audit_log=None).pipe(["true"], ["true"], user=me)


def test_non_utf8_output_does_not_crash(runner):
    r = runner.run(["printf", "caf\\351 cr\\350me"])
    assert r.stdout == "caf\ufffd cr\ufffdme"
