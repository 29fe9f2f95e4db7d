"""Every process an app could have left behind, found and killed for `roost down --purge`.

Stopping `user@UID.service` and `pkill -u UID` miss a process started outside the app's cgroup
(through root's session, a system unit) and every process under one of the app's subordinate IDs
that left its user's slice. If one survived, the next app given the same IDs would find it
owning its files. So /proc is read as root: a process belongs to the app when any of its real,
effective, saved or filesystem UIDs is the app's UID or in its subordinate range, any such GID
is the app's GID or in that range, or its cgroup is the user's slice.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from roost.errors import RoostError
from roost.host.runner import Host


@dataclass(frozen=True)
class Proc:
    pid: int
    uids: tuple[int, ...]  # real, effective, saved, filesystem
    gids: tuple[int, ...]
    zombie: bool
    cgroup: str


@dataclass(frozen=True)
class AppIds:
    uid: int
    gid: int
    subid_start: int  # 0: no range
    subid_count: int

    def _sub(self, i: int) -> bool:
        return bool(self.subid_start) and self.subid_start <= i < self.subid_start + self.subid_count

    def owns(self, p: Proc) -> bool:
        if any(i == self.uid or self._sub(i) for i in p.uids) or any(i == self.gid or self._sub(i) for i in p.gids):
            return True
        return re.search(rf"/user-{self.uid}\.slice(/|$)", p.cgroup) is not None

    def describe(self) -> str:
        span = f", IDs {self.subid_start}-{self.subid_start + self.subid_count - 1}" if self.subid_start else ""
        return f"UID {self.uid}, GID {self.gid}{span} or cgroup user-{self.uid}.slice"


def parse_status(pid: int, status: str, cgroup: str) -> Proc | None:
    """/proc/PID/status (+ /proc/PID/cgroup) -> Proc; None if the text is not a process's status."""
    fields = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    try:
        uids = tuple(int(x) for x in fields["Uid"])
        gids = tuple(int(x) for x in fields["Gid"])
    except (KeyError, ValueError):
        return None
    return Proc(pid, uids, gids, fields.get("State", [""])[0] == "Z", cgroup)


def scan(host: Host, ids: AppIds) -> list[Proc]:
    """The live processes of the app (zombies hold nothing and go with their parent)."""
    found = []
    for name, st in host.list_dir("/proc") or []:
        if not (name.isdigit() and st.is_dir) or int(name) == 1:
            continue
        try:
            status = host.read_file(f"/proc/{name}/status")
            cgroup = host.read_file(f"/proc/{name}/cgroup") or ""
        except OSError:  # it ended meanwhile
            continue
        p = parse_status(int(name), status or "", cgroup)
        if p is not None and not p.zombie and ids.owns(p):
            found.append(p)
    return found


def kill_all(host: Host, ids: AppIds, name: str, rounds: int = 40, pause: float = 0.25) -> int:
    """SIGKILL every process of the app until none is left (a process forking meanwhile is caught
    on the next round); the number killed. Raises if some survive every round."""
    killed: set[int] = set()
    for _ in range(rounds):
        found = scan(host, ids)
        if not found:
            return len(killed)
        pids = [str(p.pid) for p in found]
        killed |= {p.pid for p in found}
        host.run(["kill", "-KILL", "--", *pids], mutates=True, check=False, timeout=30)
        time.sleep(pause)
    left = scan(host, ids)
    if not left:
        return len(killed)
    shown = ", ".join(f"PID {p.pid} (UID {p.uids[0]})" for p in left[:10])
    raise RoostError(
        f"{len(left)} process(es) of {name} ({ids.describe()}) survived being killed: {shown}; the purge stops here, "
        "so its user, ID ranges and roost's record are kept and no other app can get them",
        hint=f"see `ps -o pid,uid,gid,stat,cmd -p PID`; once they are gone run `roost down {name} --purge` again",
    )
