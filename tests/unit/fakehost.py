"""A fake host behind the Runner seam: files in a dict, commands answered by handlers.

Only unit tests use it; end-to-end tests run on the real lab host.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from roost.host.runner import AppUser, FileStat, Result
from roost.record import AppRecord


@dataclass
class FakeHost:
    files: dict[str, str] = field(default_factory=dict)
    stats: dict[str, FileStat] = field(default_factory=dict)
    dirs: dict[str, FileStat] = field(default_factory=dict)
    handlers: list[tuple[tuple[str, ...], Callable[[list[str], AppUser | None, str | None], Result | str]]] = field(
        default_factory=list)
    record: list[str] = field(default_factory=list)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)

    def on(self, *prefix: str, answer: str | Callable = "", code: int = 0) -> None:
        if callable(answer):
            self.handlers.insert(0, (prefix, answer))
        else:
            self.handlers.insert(0, (prefix, lambda argv, user, stdin: Result(tuple(argv), code, answer, "")))

    def _answer(self, argv, user, stdin, mutates: bool) -> tuple[int, bytes, str]:
        """A handler's answer as (exit code, stdout bytes, stderr). Handlers return a Result, a str or bytes."""
        for prefix, handler in self.handlers:
            if tuple(argv[: len(prefix)]) == prefix:
                out = handler(list(argv), user, stdin)
                if isinstance(out, Result):
                    return out.returncode, out.stdout.encode(), out.stderr
                return 0, out if isinstance(out, bytes) else out.encode(), ""
        return (0 if mutates else 1), b"", "not faked"

    def run(self, argv, *, user=None, stdin=None, mutates=False, check=True, timeout=None) -> Result:
        self.calls.append(tuple(argv))
        if mutates:
            self.record.append(" ".join(argv) + (f" (as {user.name})" if user else ""))
        code, out, err = self._answer(argv, user, stdin, mutates)
        result = Result(tuple(argv), code, out.decode(errors="replace"), err)
        if check and not result.ok:
            from roost.host.runner import CommandFailed

            raise CommandFailed(" ".join(argv), result)
        return result

    def pipe(self, source, sink, *, user, tap=None, timeout=None) -> Result:
        """`source | sink` as the Runner does it: the sink's handler gets the source's bytes as stdin."""
        self.calls += [tuple(source), tuple(sink)]
        self.record.append(" ".join(source) + " | " + " ".join(sink) + f" (as {user.name})")
        code, data, err = self._answer(source, user, None, False)
        if tap:
            for i in range(0, len(data), 4096):  # in chunks, as a real pipe delivers them
                tap(data[i:i + 4096])
        if code:
            return Result(tuple(source), code, "", err)
        code2, out, err2 = self._answer(sink, user, data, True)
        return Result(tuple(sink), code2, out.decode(errors="replace"), err2)

    def exec_interactive(self, argv: list[str], *, user: AppUser | None = None) -> None:
        self.calls.append(tuple(argv))

    def read_file(self, path: str) -> str | None:
        return self.files.get(path)

    def stat(self, path: str) -> FileStat | None:
        return self.dirs.get(path) or self.stats.get(path)

    def exists(self, path: str) -> bool:
        return path in self.files or path in self.dirs or path in self.stats

    def write_file(self, path: str, content: str, *, mode: int, uid: int, gid: int) -> None:
        self.record.append(f"write {path}")
        self.files[path] = content
        self.stats[path] = FileStat(mode, uid, gid, False, is_file=True)

    def make_dir(self, path: str, *, mode: int, uid: int, gid: int) -> None:
        self.record.append(f"mkdir {path}")
        self.dirs[path] = FileStat(mode, uid, gid, True)

    def remove_file(self, path: str) -> None:
        if path in self.files:
            self.record.append(f"remove {path}")
            self.files.pop(path)
            self.stats.pop(path, None)

    def append_file(self, path: str, content: str, *, mode: int, uid: int, gid: int) -> None:
        self.record.append(f"append {path}")
        self.files[path] = self.files.get(path, "") + content
        self.stats[path] = FileStat(mode, uid, gid, False, is_file=True)

    def fix_file(self, path: str, *, mode: int, uid: int, gid: int) -> None:
        self.record.append(f"fix {path} {mode:04o} {uid}:{gid}")
        self.stats[path] = FileStat(mode, uid, gid, False, is_file=True)

    def list_dir(self, path: str) -> list[tuple[str, FileStat]] | None:
        if path not in self.dirs:
            return None
        prefix = path.rstrip("/") + "/"
        out = {}
        for p in [*self.files, *self.stats, *self.dirs]:
            if p.startswith(prefix) and "/" not in p[len(prefix):]:
                name = p[len(prefix):]
                out[name] = self.dirs.get(p) or self.stats.get(p) or FileStat(0o644, 0, 0, False, is_file=True)
        return sorted(out.items())

    links: set[str] = field(default_factory=set)

    def check_no_links(self, path: str) -> None:
        from roost.host.safefs import UnsafePath

        for link in self.links:
            if path == link or path.startswith(link + "/"):
                raise UnsafePath(path, f"passes through the symbolic link {link}")

    def add_secret(self, value: str) -> None:
        self.secrets.append(value)

    def mask(self, text: str) -> str:
        return text


PASSWD = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


def bare_host() -> FakeHost:
    """A Debian host with podman 5 installed and no app yet."""
    h = FakeHost()
    for tool in ("/usr/bin/apt-get", "/usr/bin/podman", "/usr/bin/pasta", "/usr/bin/newuidmap",
                 "/usr/libexec/podman/catatonit"):
        h.stats[tool] = FileStat(0o755, 0, 0, False)
    h.files["/etc/passwd"] = PASSWD
    h.files["/etc/group"] = GROUP
    h.files["/etc/subuid"] = ""
    h.files["/etc/subgid"] = ""
    h.on("podman", "--version", answer="podman version 5.4.2\n")
    h.on("ss", answer="")
    h.on("find", answer="")
    return h


def converge(host: FakeHost, prep) -> None:
    """Make the fake host look exactly like `prep` wants it: the state after a successful apply."""
    d = prep.desired
    name, uid, gid = prep.spec.name, d.identity.uid, d.identity.gid
    host.files["/etc/passwd"] += f"{name}:x:{uid}:{gid}:roost app:{prep.spec.home}:/usr/sbin/nologin\n"
    host.files["/etc/group"] += f"{name}:x:{gid}:\n"
    host.files["/etc/subuid"] += f"{name}:{d.identity.subid_start}:65536\n"
    host.files["/etc/subgid"] += f"{name}:{d.identity.subid_start}:65536\n"
    host.dirs["/var/lib/systemd/linger"] = FileStat(0o755, 0, 0, True)
    host.stats[f"/var/lib/systemd/linger/{name}"] = FileStat(0o644, 0, 0, False, is_file=True)
    parent = prep.spec.home.rsplit("/", 1)[0]
    host.dirs[parent] = FileStat(0o755, 0, 0, True)
    for w in d.dirs:
        host.dirs[w.path] = FileStat(w.mode, w.uid, w.gid, True)
    for w in d.state_dirs:
        host.dirs[w.path] = FileStat(w.mode, w.uid, w.gid, True)
    for f in (*d.state_files, *d.files):
        host.files[f.path] = f.content
        host.stats[f.path] = FileStat(f.mode, f.uid, f.gid, False, is_file=True)
    secrets = {}
    for sname in prep.spec.secrets:
        secrets[sname] = "s3cret" + sname
        host.files[d.layout.secret_file(sname)] = secrets[sname] + "\n"
    from roost.render.desired import secret_digest
    digests = {w.name: secret_digest(w.resolve(secrets)) for w in d.secret_envs}
    host.files[d.layout.secret_digests_file] = json.dumps(digests)
    host.files[f"/run/user/{uid}/bus"] = ""
    host.files.pop(d.layout.pending_file, None)
    host.on("systemctl", "is-active", answer="active\n")
    units = [*d.units, "podman-auto-update.timer", "roost-backup.timer"]
    show = "\n\n".join(f"Id={u}\nLoadState=loaded\nActiveState=active\nSubState=running\nNeedDaemonReload=no\n"
                       f"UnitFileState=enabled\nActiveEnterTimestampMonotonic=1000\nMainPID=10" for u in units)
    host.on("systemctl", "--user", "show", answer=show + "\n")
    existing = {w.name for w in d.secret_envs}  # as podman: the names asked for that exist, in that order
    host.on("podman", "secret", "inspect",
            answer=lambda argv, user, stdin: "".join(f"{n}\n" for n in argv[argv.index("--") + 1:] if n in existing))
    from roost.host.parse import normalize_image

    images = [{"Names": [normalize_image(c.image)], "Digest": "sha256:" + "a" * 64, "Id": "b" * 64}
              for c in prep.spec.containers.values()]
    host.on("podman", "images", answer=json.dumps(images))


def app_record(app: str, **fields) -> AppRecord:
    """A record with only the fields a test cares about (the required ones filled in)."""
    return AppRecord(**{"name": app, "uid": 0, "gid": 0, "home": f"/srv/roost/{app}",
                        "pod_service": f"{app}-pod.service", "containers": [], **fields})
