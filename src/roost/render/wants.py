"""The pieces of a desired state: who the app runs as, and each file and directory it should have."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    subid_start: int


@dataclass(frozen=True)
class FileWant:
    path: str
    content: str
    mode: int
    uid: int
    gid: int
    sensitive: bool = False  # holds secrets: never shown, only masked


@dataclass(frozen=True)
class DirWant:
    path: str
    mode: int
    uid: int
    gid: int
