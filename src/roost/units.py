"""The names of the systemd units of an app: one spelling each, for render, apply, teardown, doctor,
facts and logs. Quadlet names a unit after its file: APP.pod -> APP-pod.service, CONTAINER.container ->
CONTAINER.service, APP.network -> APP-network.service. The rest are roost's own user units (the nightly
update's restart hook, the backup timer, the notifications) and the system unit that watches an
app's notification spool. Pure strings: this module imports nothing of roost."""

from __future__ import annotations

AUTO_UPDATE_SERVICE = "podman-auto-update.service"  # podman's own (the nightly update), in the app user's manager
AUTO_UPDATE_TIMER = "podman-auto-update.timer"
RESTART_SERVICE = "roost-restart.service"  # what podman auto-update restarts: roost restarts the changed containers
BACKUP_SERVICE = "roost-backup.service"
BACKUP_TIMER = "roost-backup.timer"
TIMERS = (AUTO_UPDATE_TIMER, BACKUP_TIMER)  # the user timers roost may enable


def pod(app: str) -> str:
    """The pod's unit: starting it starts every container of the pod, stopping it stops them."""
    return f"{app}-pod.service"


def container(name: str) -> str:
    return f"{name}.service"


def network(app: str) -> str:
    """The oneshot unit that creates the app's network (with [network])."""
    return f"{app}-network.service"


def failed(container: str) -> str:
    """The user unit a container's OnFailure= starts (with [notify])."""
    return f"roost-failed-{container}.service"


def notify_path(app: str) -> str:
    """The system unit (root's) that watches the app's notification spool."""
    return f"roost-notify@{app}.path"
