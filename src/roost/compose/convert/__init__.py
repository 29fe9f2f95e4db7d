"""A compose file (as a located tree) -> a roost spec draft, and a report of everything not carried over as is.

Pure: no files, no host. Each service becomes a container with a network namespace of its own on the app's
private network ([network]): it is found by its service name and aliases, publishes its own ports, and two
services may listen on one port. `network_mode: "service:X"` shares X's namespace.

One concern a module: `services` (the Converter: the file's top level, each service's name, image,
privileges and labels, and the passes in order), `network` (ports, networks, host names), `volumes`
(volumes and mounts), `environment` (environment, env files, generated secrets), `lifecycle` (health
check, command, deploy, depends_on); `tables` lists the service keys read (HANDLED) and the advice for
the others (ADVICE); `draft` holds what comes out (SpecDraft, ContainerDraft) and what goes in (Options)."""

from __future__ import annotations

from roost.compose.convert.base import check_path
from roost.compose.convert.draft import ContainerDraft, Options, SpecDraft
from roost.compose.convert.network import LOCALHOST, MAX_RANGE
from roost.compose.convert.services import Converter
from roost.compose.convert.tables import ADVICE, DEPLOY_KEYS, HANDLED
from roost.compose.convert.volumes import HOME_RESERVED, PROPAGATION

__all__ = ["ADVICE", "DEPLOY_KEYS", "HANDLED", "HOME_RESERVED", "LOCALHOST", "MAX_RANGE", "PROPAGATION",
           "ContainerDraft", "Converter", "Options", "SpecDraft", "check_path"]
