"""What the converter produces (a spec draft, one container draft a service) and what it is given (Options)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ContainerDraft:
    service: str  # the compose service it came from
    line: int
    image: str
    auto_update: str | None = None
    requires: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    env_file: str | None = None
    volumes: list[str] = field(default_factory=list)
    health: dict[str, Any] | None = None
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    cap_add: list[str] = field(default_factory=list)
    read_only: bool = False
    user: str | None = None
    tmpfs: list[str] = field(default_factory=list)
    restart: str = "always"
    limits: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # spec key -> comment for the TOML
    lines: dict[str, int] = field(default_factory=dict)  # compose key -> its line, for later findings


@dataclass
class SpecDraft:
    source: str
    name: str
    publish: list[str] = field(default_factory=list)
    publish_notes: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # names for 127.0.0.1 in the pod (no [network] only)
    # the app's network: container -> its own host ports, its other names, whose namespace it shares
    own_publish: dict[str, list[str]] = field(default_factory=dict)
    aliases: dict[str, list[str]] = field(default_factory=dict)
    shares: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, int] = field(default_factory=dict)
    containers: dict[str, ContainerDraft] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # services not imported, with why (for the header)


@dataclass
class Options:
    name: str | None = None
    profiles: tuple[str, ...] = ()
    env_file_prefix: str = ""  # how the spec's folder reaches the compose file's folder ("" = the same folder)
    default_name: str = "app"  # from the compose file's folder when the file has no `name:`
    env: Mapping[str, str] = field(default_factory=dict)  # where `- KEY` without a value takes its value
    # reads an env_file named by the compose file (path as written, relative to its folder), None if unreadable;
    # the values are only compared, so that a password an env file repeats is not replaced in one place only
    read_env_file: Callable[[str], str | None] | None = None
    shell: frozenset[str] = frozenset()  # names set in the importing shell's environment (each use is reported)
