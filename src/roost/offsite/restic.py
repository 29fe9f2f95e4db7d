"""restic command lines and what their answers mean. Pure: argv in, parsed values out.

Passwords never reach argv: the app's side names the password file it owns
(`--password-file`), root's side (recover, prune, kit) hands the password on stdin,
which restic reads when stdin is not a terminal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from roost.errors import RoostError, UsageError
from roost.host.runner import Result

TAG_PREFIX = "roost-app:"
# restic's exit codes (restic >= 0.17, docs "Exit codes")
NO_REPOSITORY, LOCKED, WRONG_PASSWORD = 10, 11, 12


def tag(app: str) -> str:
    return f"{TAG_PREFIX}{app}"


def base(repository: str, password_file: str | None = None, repository_file: str | None = None) -> list[str]:
    """`restic -r REPO` with the password from a file, or (None) from stdin and no local cache.
    `repository_file`: the address read from a file instead (it may hold credentials)."""
    argv = ["restic", *(["--repository-file", repository_file] if repository_file else ["--repo", repository]),
            "--quiet"]
    return argv + (["--password-file", password_file] if password_file else ["--no-cache"])


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: str  # RFC 3339, as restic writes it
    tags: tuple[str, ...]
    size: int  # bytes the backup processed (restic's summary), 0 if unknown

    @property
    def timestamp(self) -> float:
        return parse_time(self.time)

    @property
    def app(self) -> str | None:
        return next((t.removeprefix(TAG_PREFIX) for t in self.tags if t.startswith(TAG_PREFIX)), None)


def parse_time(text: str) -> float:
    """restic's '2026-12-03T17:17:17.940989401Z' (nanoseconds, any zone) as a Unix time."""
    head, _, rest = text.partition(".")
    zone = rest.lstrip("0123456789") if rest else head[19:]
    try:
        return datetime.fromisoformat(head[:19] + (zone.replace("Z", "+00:00") or "+00:00")).timestamp()
    except ValueError:
        return 0.0


def parse_snapshots(text: str) -> list[Snapshot]:
    """`restic snapshots --json`, oldest first."""
    try:
        items = json.loads(text or "[]")
    except ValueError:
        raise RoostError(f"restic printed something that is not JSON: {text[:200]!r}") from None
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        summary = item["summary"] if isinstance(item.get("summary"), dict) else {}
        out.append(Snapshot(item["id"], str(item.get("short_id", item["id"][:8])), str(item.get("time", "")),
                            tuple(str(t) for t in item.get("tags") or ()),
                            int(summary.get("total_bytes_processed") or 0)))
    return sorted(out, key=lambda s: s.timestamp)


def parse_backup_summary(text: str) -> dict:
    """The summary line of `restic backup --json`: snapshot id and what moved."""
    for line in reversed(text.splitlines()):
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and item.get("message_type") == "summary":
            return {"snapshot": str(item.get("snapshot_id", ""))[:64],
                    "bytes_added": int(item.get("data_added_packed") or item.get("data_added") or 0),
                    "bytes_processed": int(item.get("total_bytes_processed") or 0),
                    "seconds": round(float(item.get("total_duration") or 0), 2)}
    raise RoostError("restic backup printed no summary: no snapshot was made")


def explain(r: Result, repository: str, what: str) -> RoostError:
    """A failed restic run as an error that says what to do."""
    last = next((ln for ln in reversed(r.stderr.strip().splitlines()) if ln.strip()), f"exit {r.returncode}")
    if r.returncode == WRONG_PASSWORD:
        return UsageError(f"{what}: wrong password for the restic repository {repository}",
                          hint="use the password from the app's recovery kit (`roost offsite kit APP` printed it)")
    if r.returncode == NO_REPOSITORY:
        return UsageError(f"{what}: there is no restic repository at {repository} ({last[:200]})",
                          hint="check the address; a new repository is made by the app's first `roost backup`")
    if r.returncode == LOCKED:
        return RoostError(f"{what}: the repository {repository} is locked by another restic run ({last[:200]})",
                          hint="wait for it to finish; a stale lock is removed from the trusted side with "
                               "`restic unlock`")
    return RoostError(f"{what} failed (restic exit {r.returncode}): {last[:400]}")


def age(ts: float, now: float | None = None) -> str:
    """'3h', '2d' ... for status lines."""
    seconds = max(0, int((now if now is not None else datetime.now(UTC).timestamp()) - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
