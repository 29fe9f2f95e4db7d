"""PostgreSQL major versions: a data directory only opens with the major that wrote it.

The guard compares the major in an image's tag with PG_VERSION in the data directory on
the host, and refuses a silent jump; `roost db upgrade` does the migration instead.
"""

from __future__ import annotations

import posixpath
import re

from roost.errors import UsageError
from roost.spec.model import Spec

DEFAULT_PGDATA = "/var/lib/postgresql/data"
LEADING_NUMBER = re.compile(r"^\d+")


def image_major(image: str) -> int | None:
    """postgres:17, postgres:17.2-bookworm -> 17; latest or no tag -> None."""
    last = image.split("@")[0].rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    m = re.match(r"^(\d+)", last.split(":", 1)[1])
    return int(m.group(1)) if m else None


def with_major(image: str, major: int) -> str:
    """The same image reference at another major: ...postgres:15 -> ...postgres:17."""
    base, _, tag = image.split("@")[0].rpartition(":")
    if not base or "/" in tag:
        return f"{image.split('@')[0]}:{major}"
    new_tag = LEADING_NUMBER.sub(str(major), tag) if LEADING_NUMBER.match(tag) else str(major)
    return f"{base}:{new_tag}"


def pgdata_host_path(spec: Spec, container: str) -> str | None:
    found = spec.volume_holding(container, spec.containers[container].env.get("PGDATA", DEFAULT_PGDATA))
    return found[1] if found else None


def pgdata_volume(spec: Spec, container: str) -> str | None:
    """The host directory of the volume that holds PGDATA (what an upgrade moves aside)."""
    found = spec.volume_holding(container, spec.containers[container].env.get("PGDATA", DEFAULT_PGDATA))
    return spec.host_path(found[0].source) if found else None


def pg_version_files(spec: Spec) -> dict[str, str]:
    """container -> the PG_VERSION file of its data directory on the host."""
    out = {}
    for name, c in spec.containers.items():
        if c.is_postgres and (path := pgdata_host_path(spec, name)):
            out[name] = posixpath.join(path, "PG_VERSION")
    return out


def guard(spec: Spec, files: dict[str, str | None]) -> None:
    """Refuse a spec whose database image would open a data directory of another major."""
    for name, path in pg_version_files(spec).items():
        on_disk = (files.get(path) or "").strip()
        wanted = image_major(spec.containers[name].image)
        if not on_disk.isdigit() or wanted is None or int(on_disk) == wanted:
            continue
        raise UsageError(
            f"containers.{name}.image asks for PostgreSQL {wanted}, but {posixpath.dirname(path)} holds "
            f"PostgreSQL {on_disk} data: PostgreSQL cannot open another major's data directory",
            hint=f"keep the tag at {on_disk} and migrate with `roost db upgrade {spec.name} {name} --to {wanted}` "
                 "(dump, fresh data directory, restore, verify; the old directory is kept)",
        )
