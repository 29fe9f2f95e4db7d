"""The real apps the lab serves under their upstream names (pure: no machine, no network).

registries.conf.d maps each upstream repository (docker.io/miniflux/miniflux, ...) onto the lab
registry, so upstream compose files run unedited; lab/apps.py builds the images."""

from __future__ import annotations

from dataclasses import dataclass

from roost.lab import config

UPSTREAM = "upstream"  # the lab registry's folder for images under upstream names


@dataclass(frozen=True)
class AppImage:
    """One real app: its upstream name (what compose files say) and the versions the lab builds,
    oldest first. `latest` starts as the oldest: an update test moves it on (`publish_latest`)."""

    name: str
    upstream: str  # docker.io/ORG/NAME
    versions: tuple[str, ...]


# Debian 13 ships one miniflux (2.2.6): 2.2.6-1 is the same binary, built again as another image
MINIFLUX = AppImage("miniflux", "docker.io/miniflux/miniflux", ("2.2.6", "2.2.6-1"))
NODE_RED = AppImage("node-red", "docker.io/nodered/node-red", ("4.1.14", "4.1.15"))
SYNAPSE = AppImage("synapse", "docker.io/matrixdotorg/synapse", ("1.162.0", "1.163.2"))
APPS = {a.name: a for a in (MINIFLUX, NODE_RED, SYNAPSE)}
POSTGRES_UPSTREAM = "docker.io/library/postgres"
# postgres tags the upstream files use -> the major built for them (alpine: the same server)
POSTGRES_TAGS = {"15": "15", "15-alpine": "15", "17": "17"}


def lab_repo(name: str) -> str:
    return f"{config.REGISTRY}/{UPSTREAM}/{name}"


def remaps(registry: str = config.REGISTRY) -> str:
    """registries.conf.d: each upstream repository is served by the lab registry (plain HTTP)."""
    pairs = [(a.upstream, a.name) for a in APPS.values()] + [(POSTGRES_UPSTREAM, "postgres"),
                                                             ("docker.io/postgres", "postgres")]  # fmt: skip
    blocks = [f'[[registry]]\nprefix = "{up}"\nlocation = "{registry}/{UPSTREAM}/{name}"\ninsecure = true\n'
              for up, name in pairs]  # fmt: skip
    return "# roost lab: upstream image names served by the lab registry (real apps, examples/apps)\n" + "\n".join(blocks)


