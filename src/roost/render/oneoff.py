"""`roost run`: one container of an applied app, once, as `docker compose run` does it.

The same [Container] entries its unit has (render/desired.py `container_entries`), turned into
`podman run` options: its image, environment (env file and podman secrets: no value in argv),
volumes, user, network or pod, capabilities. Not carried: its name (the one-off gets its own), its
labels (status and update must not take it for the service), published ports, health checks,
auto-update. Quadlet and `podman run` spell the carried options the same way.
"""

from __future__ import annotations

import secrets

from roost.layout import Layout
from roost.render.desired import container_entries
from roost.spec.model import Spec

# Quadlet key -> podman run option whose value is written the same way
SAME = {"EnvironmentFile": "--env-file", "Secret": "--secret", "Volume": "--volume", "User": "--user",
        "Tmpfs": "--tmpfs", "Entrypoint": "--entrypoint"}
# what a one-off leaves out, and why (every key container_entries writes is in SAME, here, or handled below)
LEFT_OUT = {
    "ContainerName": "the one-off gets a name of its own",
    "Label": "status and update must not take the one-off for the service",
    "NetworkAlias": "the service's name stays the service's",
    "PublishPort": "its ports stay the service's (as `docker compose run` without --service-ports)",
    "AutoUpdate": "nothing to update in a container that exits",
    "Notify": "no unit waits for it",
    **{k: "a one-off runs in the foreground, no health gate" for k in (
        "HealthCmd", "HealthInterval", "HealthTimeout", "HealthRetries", "HealthStartPeriod", "HealthStartupCmd",
        "HealthStartupInterval", "HealthStartupRetries", "HealthStartupSuccess")},
}


def run_argv(spec: Spec, layout: Layout, name: str, has_plain_env: bool, command: tuple[str, ...] = (),
             env: tuple[str, ...] = (), tty: bool = False) -> list[str]:
    """`podman run --rm` of container `name` with `command` (empty: the service's own) and extra
    `env` (KEY=VALUE, given by the person running it). Raises KeyError on a key not mapped here."""
    entries, _ = container_entries(spec, layout, name, spec.containers[name], has_plain_env)
    opts = ["--rm", "--interactive", *(["--tty"] if tty else []),
            "--name", f"{spec.name}-{name}-run-{secrets.token_hex(3)}"]
    image, own_command = "", ()  # type: tuple[str, tuple[str, ...]]
    for key, value in (e for e in entries if e is not None):
        if key in LEFT_OUT:
            continue
        if key in SAME:
            assert isinstance(value, str)
            opts += [SAME[key], value]
        elif key == "Image":
            image = str(value)
        elif key == "Exec":
            own_command = tuple(value)
        elif key in ("Network", "Pod"):  # NAME.network / NAME.pod are named NAME (NetworkName=, PodName=)
            unit = f"{spec.name}.{key.lower()}"
            opts += [f"--{key.lower()}", spec.name if value == unit else str(value)]
        elif key == "NoNewPrivileges":
            opts += ["--security-opt", "no-new-privileges"]
        elif key == "DropCapability":
            opts += ["--cap-drop", str(value)]
        elif key == "AddCapability":
            opts += [a for cap in str(value).split() for a in ("--cap-add", cap)]
        elif key == "ReadOnly":
            opts.append("--read-only")
        else:
            raise KeyError(f"roost run does not know the unit key {key}")
    opts += [a for kv in env for a in ("--env", kv)]
    return ["podman", "run", *opts, image, *(command or own_command)]
