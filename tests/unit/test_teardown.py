"""`roost down` as a plan: what each kind of teardown does, from data."""

from __future__ import annotations

import pytest

from roost.plan import actions as A
from roost.teardown import down, plan_down
from tests.unit.fakehost import bare_host

RECORD = {"name": "wiki", "uid": 2001, "gid": 2001, "subid_start": 200_100_000, "home": "/srv/roost/wiki",
          "pod_service": "wiki-pod.service", "containers": ["db", "web"]}
UNITS = ["/srv/roost/wiki/.config/containers/systemd/wiki.pod",
         "/srv/roost/wiki/.config/containers/systemd/db.container",
         "/srv/roost/wiki/.config/containers/systemd/web.container"]


def steps(plan: A.Plan) -> list[str]:
    return [a.describe() for a in plan.actions]


@pytest.mark.parametrize("manager, purge, first, last", [
    (True, False, "stop wiki-pod.service (every container of the pod)", "forget failed units"),
    (False, False, f"remove {UNITS[0]} (the app's units)", f"remove {UNITS[-1]} (the app's units)"),
    (True, True, "stop wiki-pod.service (every container of the pod)", "remove /var/lib/roost/apps/wiki"),
    (False, True, f"remove {UNITS[0]} (the app's units)", "remove /var/lib/roost/apps/wiki"),
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
    assert steps(purged).index("kill what is left of UID 2001") < steps(purged).index("remove /srv/roost/wiki")


def test_down_runs_the_plan_through_the_host():
    host = bare_host()
    host.files[UNITS[1]] = "[Container]\n"
    down(RECORD, host, purge=False, ui=None)
    assert host.record == [f"remove {UNITS[1]}"]  # no user manager: nothing else to do
