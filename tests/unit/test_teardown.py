"""`roost down` as a plan: what each kind of teardown does, from data."""

from __future__ import annotations

from dataclasses import replace

import pytest

from roost.errors import RoostError
from roost.host.runner import AppUser, FileStat
from roost.layout import APPS_DIR as APPS
from roost.layout import Layout
from roost.plan import actions as A
from roost.plan.context import Context
from roost.record import AppRecord
from roost.render.desired import Identity
from roost.survivors import AppIds, kill_all, scan
from roost.teardown import KillEveryProcess, down, plan_down
from tests.unit.fakehost import bare_host


def ctx_for(host):
    return Context(host, Layout("wiki", "/srv/roost/wiki"), Identity(2001, 2001, 200_100_000),
                   AppUser("wiki", 2001, "/srv/roost/wiki"), None, 1.0)

RECORD = AppRecord("wiki", 2001, 2001, "/srv/roost/wiki", "wiki-pod.service", ["db", "web"], subid_start=200_100_000)
UNITS = ["/srv/roost/wiki/.config/containers/systemd/wiki.pod",
         "/srv/roost/wiki/.config/containers/systemd/db.container",
         "/srv/roost/wiki/.config/containers/systemd/web.container"]


def steps(plan: A.Plan) -> list[str]:
    return [a.describe() for a in plan.actions]


@pytest.mark.parametrize("manager, purge, first, last", [
    (True, False, "stop wiki-pod.service (every container of the pod)", "forget failed units"),
    (False, False, f"remove {UNITS[0]} (the app's units)", f"remove {UNITS[-1]} (the app's units)"),
    (True, True, "stop wiki-pod.service (every container of the pod)", "remove /run/roost/wiki.lock (the app's lock)"),
    (False, True, f"remove {UNITS[0]} (the app's units)", "remove /run/roost/wiki.lock (the app's lock)"),
])
def test_down_plans(manager, purge, first, last):
    plan = plan_down(RECORD, manager, purge)
    assert steps(plan)[0] == first and steps(plan)[-1] == last


def test_only_purge_deletes_data():
    kept = steps(plan_down(RECORD, True, purge=False))
    assert not any("delete" in s or "rm" in s for s in kept)
    purged = plan_down(RECORD, True, purge=True)
    wipe = next(a for a in purged.actions if isinstance(a, A.RunCommand) and "rm" in a.argv)
    # as the app user, inside its user namespace: root never deletes inside the home
    assert wipe.as_user and wipe.argv == ("podman", "unshare", "rm", "-rf", "--one-file-system", "--", "/srv/roost/wiki")
    assert "give back subordinate IDs 200100000-200165535" in steps(purged)
    kill = "kill every process of UID 2001, GID 2001, IDs 200100000-200165535 or cgroup user-2001.slice, inside its slice or not"
    order = steps(purged)
    # the IDs are reserved before anything is removed; nobody is left before the IDs, user and home go
    assert order[order.index("stop user@2001.service and user-runtime-dir@2001.service") + 2] == kill
    assert order.index(kill) < order.index("give back subordinate IDs 200100000-200165535") < order.index("delete user wiki")
    assert order.index(kill) < order.index("remove /srv/roost/wiki")
    assert order[order.index("stop wiki-pod.service (every container of the pod)") + 6].startswith(
        "remember UID 2001, GID 2001 and IDs 200100000-200165535 as purged in /var/lib/roost/purged.json")


def test_down_runs_the_plan_through_the_host():
    host = bare_host()
    host.files[UNITS[1]] = "[Container]\n"
    down(RECORD, host, purge=False, ui=None)
    assert host.record == [f"remove {UNITS[1]}"]  # no user manager: nothing else to do


def status(uid: int, gid: int, state: str = "S (sleeping)") -> str:
    return f"Name:\tsleep\nState:\t{state}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{gid}\t{gid}\t{gid}\t{gid}\n"


def proc_host(procs: dict[int, tuple[str, str]]):
    host = bare_host()
    host.dirs["/proc"] = FileStat(0o555, 0, 0, True)
    for pid, (st, cg) in procs.items():
        host.dirs[f"/proc/{pid}"] = FileStat(0o555, 0, 0, True)
        host.files[f"/proc/{pid}/status"] = st
        host.files[f"/proc/{pid}/cgroup"] = cg
    return host


IDS = AppIds(2001, 2001, 200_100_000, 65536)
PROCS = {
    1: (status(0, 0), "0::/init.scope\n"),
    10: (status(0, 0), "0::/system.slice/sshd.service\n"),  # root, elsewhere: kept
    11: (status(1000, 1000), "0::/user.slice/user-1000.slice/session-1.scope\n"),  # another user: kept
    20: (status(2001, 2001), "0::/system.slice/run-x.service\n"),  # the app's UID outside its slice
    21: (status(200_100_999, 200_100_999), "0::/system.slice/evil.service\n"),  # a subordinate UID, outside
    22: ("Name:\tx\nState:\tS\nUid:\t0\t200165535\t0\t0\nGid:\t0\t0\t0\t0\n", "0::/\n"),  # effective UID only
    23: ("Name:\tx\nState:\tS\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t2001\t0\n", "0::/\n"),  # saved GID only
    24: (status(0, 0), "0::/user.slice/user-2001.slice/user@2001.service/init.scope\n"),  # root in its slice
    25: (status(2001, 2001, "Z (zombie)"), "0::/\n"),  # gone with its parent
    26: (status(200_165_536, 200_165_536), "0::/\n"),  # first ID past the range: another app's
}


def test_scan_finds_every_process_of_the_app_and_nothing_else():
    assert sorted(p.pid for p in scan(proc_host(PROCS), IDS)) == [20, 21, 22, 23, 24]


def test_kill_all_kills_until_none_is_left():
    host = proc_host(PROCS)

    def kill(argv, user, stdin):
        for pid in argv[3:]:
            host.files.pop(f"/proc/{pid}/status")
            host.dirs.pop(f"/proc/{pid}")
        return ""

    host.on("kill", answer=kill)
    assert kill_all(host, IDS, "wiki", pause=0) == 5
    assert host.record == ["kill -KILL -- 20 21 22 23 24"]


def test_purge_stops_before_anything_that_cannot_be_redone_while_a_process_survives():
    host = proc_host({30: (status(200_100_005, 200_100_005), "0::/system.slice/x.service\n")})
    host.files[f"{APPS}/wiki/record.json"] = "{}"
    plan = plan_down(RECORD, False, purge=True)
    actions = [replace(a, rounds=2, pause=0) if isinstance(a, KillEveryProcess) else a for a in plan.actions]
    with pytest.raises(RoostError, match=r"1 process\(es\) of wiki .* survived being killed: PID 30 \(UID 200100005\)"):
        for action in actions:
            action.execute(ctx_for(host))
    assert host.record.count("kill -KILL -- 30") == 2  # the fake kill does nothing: it survives both rounds
    assert not any(r.startswith(("usermod", "userdel", "groupdel", "rm -rf --one-file-system")) for r in host.record)
    assert f"{APPS}/wiki/record.json" in host.files and "/var/lib/roost/purged.json" in host.files
