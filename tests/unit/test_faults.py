"""The fault hook the e2e suite cuts roost with (ROOST_KILL_AT); SIGKILL itself is exercised in the lab."""

from __future__ import annotations

import signal

import pytest

from roost import faults


def test_a_point_not_asked_for_passes(monkeypatch):
    monkeypatch.setenv("ROOST_KILL_AT", "db-upgrade.moved:int")
    faults.reached("db-upgrade.dumped")  # another point: nothing happens


def test_int_at_a_point_is_a_ctrl_c(monkeypatch):
    monkeypatch.setenv("ROOST_KILL_AT", "db-upgrade.moved:int")
    # Python's own Ctrl-C handler, as in a terminal (a job started with `&` by a script inherits SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            faults.reached("db-upgrade.moved")
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_bare_point_means_kill_after_it(monkeypatch):
    killed = []
    monkeypatch.setenv("ROOST_KILL_AT", "db-upgrade.restored")
    monkeypatch.setattr(faults, "die_now", lambda: killed.append(True))
    faults.reached("db-upgrade.restored")
    assert killed == [True]
