"""The one plan executor: `apply` and `down` run their plans through it (the front door's actions are
part of apply's plan). A plan is data; here it meets the host, action by action, in order.

Verbs that are plans: apply, down (and down --purge), reapply, recover's apply. Verbs that are
procedures (they decide as they go, on what the host answers): update, rollback, restart-changed,
backup, restore, db upgrade, offsite. Both kinds mutate only through the one Runner (host/runner.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from roost import faults
from roost.plan.actions import Action
from roost.plan.context import Context


def execute_plan(actions: Iterable[Action], ctx: Context, on_action: Callable[[Action], None] | None = None,
                 before: Callable[[Action], None] | None = None) -> list[Action]:
    """Run each action in order; stop at the first failure (the next run of the verb finishes the job:
    every action is idempotent). before(action): a check just before it runs. The fault hook
    (faults.py, ROOST_FAULT) can kill the process during or after any action by name."""
    done = []
    fault = faults.fault_point()
    for action in actions:
        if before:
            before(action)
        if on_action:
            on_action(action)
        name = type(action).__name__
        if fault == (name, "during"):
            faults.die_soon()
        action.execute(ctx)
        if fault == (name, "after"):
            faults.die_now()
        done.append(action)
    return done
