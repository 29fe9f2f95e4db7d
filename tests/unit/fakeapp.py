"""An applied app behind the fake host, for the verbs that work on one: update, rollback,
backup, restore, db upgrade.

Everything still goes through the Runner seam (FakeHost): roost's own code runs unchanged.
The handlers answer podman, systemctl and the few coreutils the verbs run as the app user from
a small model of the app: the app user's files (bytes by path), which image each reference
names, which image each container runs, which units are active, what pg_dump prints.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from roost.app import App
from roost.host.runner import Result
from roost.layout import Layout
from roost.spec.load import parse_spec
from tests.unit.fakehost import FakeHost, app_record

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "lab-notes.toml").read_text()
HOME = "/srv/roost/notes"
DB_IMAGE = "127.0.0.1:5000/roost-lab/postgres:17"
APP_IMAGE = "127.0.0.1:5000/roost-lab/notes:latest"


def iid(tag: str) -> str:
    """A 64-hex image id that reads as its name in a failing assertion."""
    return (tag.encode().hex() + "0" * 64)[:64]


def fail(argv: list[str], why: str, code: int = 1) -> Result:
    return Result(tuple(argv), code, "", why + "\n")


@dataclass
class World:
    host: FakeHost
    app: App
    spec_path: str
    files: dict[str, bytes] = field(default_factory=dict)  # the app user's files
    dirs: set[str] = field(default_factory=set)
    local: dict[str, str] = field(default_factory=dict)  # image reference -> id it names on this host
    registry: dict[str, str] = field(default_factory=dict)  # image reference -> id a pull brings
    running: dict[str, str] = field(default_factory=dict)  # container -> image id it runs
    active: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)  # image ids that never become healthy
    majors: dict[str, int] = field(default_factory=dict)  # image id -> PG_MAJOR in its env
    dumps: dict[str, bytes] = field(default_factory=dict)  # container -> what pg_dump prints
    psql_in: list[tuple[str, bytes]] = field(default_factory=list)  # (container, SQL fed to psql -i)
    untarred: dict[str, bytes] = field(default_factory=dict)  # volume dir -> tar unpacked into it
    rows: dict[str, int] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)  # "pull", "dump", "start", "start-db", "untar", "psql"
    auto_update_rows: list[dict] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # units whose start failed (the gate sees them)
    recreated: list[str] = field(default_factory=list)  # containers whose database was dropped and made again
    _n: int = 0

    def state(self, unit: str) -> str:
        return "active" if unit in self.active else "failed" if unit in self.failed else "inactive"

    # -- what tests look at ------------------------------------------------------------
    def under(self, directory: str) -> dict[str, bytes]:
        return {p: b for p, b in self.files.items() if p.startswith(directory.rstrip("/") + "/")}

    def archives(self) -> list[str]:
        return sorted(p for p in self.under(self.app.layout.backups_dir) if p.endswith(".tar.gz"))

    def commands(self, *prefix: str) -> list[tuple[str, ...]]:
        return [c for c in self.host.calls if c[:len(prefix)] == prefix]

    # -- podman ---------------------------------------------------------------------------
    def container(self, cname: str) -> str:
        return cname.removeprefix(f"{self.app.spec.name}-")

    def podman(self, argv: list[str], user, stdin) -> Result | str | bytes:
        a = argv[1:]
        if a[:3] == ["ps", "-a", "--format"]:
            return json.dumps([{"Names": [f"notes-{c}"], "ImageID": i, "State": "running",
                                "Labels": {"io.roost.app": "notes", "io.roost.container": c}}
                               for c, i in self.running.items()])
        if a[:2] == ["images", "--format"]:
            return json.dumps([{"Names": [ref], "Digest": f"sha256:{i}", "Id": i} for ref, i in self.local.items()])
        if a[:2] == ["image", "inspect"]:
            ref = a[-1]
            if a[3] == "{{.Id}}":
                return self.local[ref] + "\n" if ref in self.local else fail(argv, f"no such image {ref}", 125)
            return f"PATH=/bin\nPG_MAJOR={self.majors[ref]}\n" if ref in self.majors else "PATH=/bin\n"
        if a[0] == "pull":
            if "pull" in self.failing:
                return fail(argv, "Error: initializing source: connection refused", 125)
            self.local[a[-1]] = self.registry.get(a[-1], self.local.get(a[-1], ""))
            return self.local[a[-1]] + "\n"
        if a[0] == "tag":
            self.local[a[2]] = a[1]
            return ""
        if a[:2] == ["image", "exists"]:
            return "" if a[2] in self.local.values() else fail(argv, "", 1)
        if a[:2] == ["auto-update", "--dry-run"]:
            return json.dumps(self.auto_update_rows)
        if a[:2] == ["healthcheck", "run"]:
            return fail(argv, "unhealthy") if self.running.get(self.container(a[2])) in self.broken else ""
        if a[0] == "exec":
            return self.podman_exec(argv, a[1:], stdin)
        if a[0] == "unshare":
            return self.unshare(argv, a[1:])
        return fail(argv, "podman: not faked")

    def podman_exec(self, argv: list[str], a: list[str], stdin) -> Result | str | bytes:
        interactive = a[0] == "-i"
        cname, cmd = (a[1], a[2:]) if interactive else (a[0], a[1:])
        c = self.container(cname)
        if f"{self.container(cname)}.service" not in self.active:
            return fail(argv, f"Error: can only create exec sessions on running containers: {cname}", 125)
        if cmd[0] == "pg_dump":
            return fail(argv, "pg_dump: error: connection lost") if "dump" in self.failing else self.dumps[c]
        if cmd[0] == "pg_isready":  # a running database container takes connections at once here
            return ""
        if cmd[0] == "psql" and interactive:
            if "psql" in self.failing:
                return fail(argv, "ERROR:  relation exists", 3)
            self.psql_in.append((c, stdin if isinstance(stdin, bytes) else (stdin or "").encode()))
            return ""
        if cmd[0] == "psql":
            sql = cmd[-1]
            if sql.startswith("CREATE DATABASE"):  # after DROP DATABASE: the tables are gone until a restore
                self.recreated.append(c)
                return ""
            if sql.startswith("SELECT format("):
                return "".join(f"{t}\n" for t in sorted(self.rows))
            return f"{self.rows[sql.rsplit(' ', 1)[-1]]}\n"
        return fail(argv, "exec: not faked")

    def unshare(self, argv: list[str], a: list[str]) -> Result | str | bytes:
        if a[0] == "tar" and "-cpf" in a:
            directory = a[a.index("-C") + 1]
            return f"tar of {directory}".encode()
        if a[0] == "tar" and "-xpf" in a:
            if "untar" in self.failing:
                return fail(argv, "tar: Cannot open: Permission denied", 2)
            self.untarred[a[a.index("-C") + 1]] = self.files[a[-1]]
            return ""
        if a[:2] == ["rm", "-rf"]:
            self.remove(a[-1])
            return ""
        if a[0] == "head":
            return self.files[a[-1]] if a[-1] in self.files else fail(argv, "head: No such file or directory")
        return fail(argv, "unshare: not faked")

    # -- systemctl --user -------------------------------------------------------------------
    def systemctl(self, argv: list[str], user, stdin) -> Result | str:
        a = argv[2:]
        verb, units = a[0], [u for u in a[1:] if u.endswith(".service")]
        if verb == "show":
            return "\n\n".join(f"Id={u}\nLoadState=loaded\nActiveState={self.state(u)}"
                               f"\nSubState=running\nNeedDaemonReload=no" for u in units) + "\n"
        if verb == "is-active":
            return "" if units[0] in self.active else fail(argv, "", 3)
        if verb == "reset-failed":
            return ""
        if verb == "stop":  # the pod's unit stops every container; a container's unit only itself
            whole = any(u.endswith("-pod.service") for u in units)
            for group in (self.active, self.failed):
                group.difference_update(set(group) if whole else units)
            return ""
        if verb in ("start", "restart"):
            if "start" in self.failing or ("start-db" in self.failing and "database.service" in units):
                return fail(argv, f"Job for {units[-1]} failed because the control process exited with error code.")
            for u in units:
                c = u.removesuffix(".service")
                if c in self.app.spec.containers:
                    self.running[c] = self.local[self.app.spec.containers[c].image]
                    if self.running[c] in self.broken:  # --no-block: the job is queued, the unit fails later
                        self.active.discard(u)
                        self.failed.add(u)
                        if "--no-block" in a:
                            continue
                        return fail(argv, f"Job for {u} failed because a timeout was exceeded.")
                self.active.add(u)
            return ""
        return fail(argv, "systemctl: not faked")

    # -- the app user's files ---------------------------------------------------------------
    def exists(self, path: str) -> bool:
        return path in self.files or path in self.dirs

    def remove(self, path: str) -> None:
        for p in [p for p in self.files if p == path or p.startswith(path + "/")]:
            del self.files[p]
        self.dirs = {d for d in self.dirs if not (d == path or d.startswith(path + "/"))}

    def coreutils(self, argv: list[str], user, stdin) -> Result | str | bytes:
        cmd, args = argv[0], [x for x in argv[1:] if x != "--"]
        if cmd == "mkdir":
            paths = [x for i, x in enumerate(args) if not x.startswith("-") and args[i - 1] != "-m"]
            self.dirs.update(paths)
            return ""
        if cmd == "mktemp":
            directory, template = args[args.index("-p") + 1], args[-1]
            self._n += 1
            path = posixpath.join(directory, template.replace("XXXXXXXXXX", f"R{self._n:09d}"))
            if "-d" in args:
                self.dirs.add(path)
            else:
                self.files[path] = b""
            return path + "\n"
        if cmd == "test":
            kind, path = args
            ok = {"-d": path in self.dirs, "-f": path in self.files, "-e": self.exists(path)}[kind]
            return "" if ok else fail(argv, "")
        if cmd == "dd":
            path = args[0].removeprefix("of=")
            if self.exists(path):
                return fail(argv, f"dd: failed to open '{path}': File exists")
            self.files[path] = stdin if isinstance(stdin, bytes) else (stdin or "").encode()
            return ""
        if cmd == "cat":
            return self.files[args[0]] if args[0] in self.files else fail(argv, f"cat: {args[0]}: No such file")
        if cmd == "tar" and "-czf" in args:
            return self.pack(args[args.index("-C") + 1], args[args.index("-czf") + 1])
        if cmd == "tar" and "-xzf" in args:
            return self.unpack(argv, args[args.index("-C") + 1], stdin)
        if cmd == "mv":
            src, dst = args[-2], args[-1]
            for p in [p for p in [*self.files, *self.dirs] if p == src or p.startswith(src + "/")]:
                if p in self.files:
                    self.files[dst + p[len(src):]] = self.files.pop(p)
                else:
                    self.dirs.discard(p)
                    self.dirs.add(dst + p[len(src):])
            return ""
        if cmd == "rm":
            self.remove(args[-1])
            return ""
        if cmd == "chmod":
            return ""
        if cmd == "cp":
            self.files[args[-1]] = self.files[args[-2]]
            return ""
        if cmd == "find":
            directory = args[0]
            return "".join(f"{posixpath.basename(p)}\0{len(b)}\0" for p, b in sorted(self.files.items())
                           if posixpath.dirname(p) == directory)
        return fail(argv, f"{cmd}: not faked")

    def pack(self, staging: str, out: str) -> str:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
            tar.addfile(_dir("."))
            for d in sorted(d for d in self.dirs if d.startswith(staging + "/")):
                tar.addfile(_dir("./" + d[len(staging) + 1:]))
            for path, data in sorted(self.under(staging).items()):
                info = tarfile.TarInfo("./" + path[len(staging) + 1:])
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        self.files[out] = buf.getvalue()
        return ""

    def unpack(self, argv: list[str], staging: str, stdin) -> Result | str:
        try:
            with tarfile.open(fileobj=io.BytesIO(stdin), mode="r|gz") as tar:
                for m in tar:
                    name = posixpath.normpath(m.name.lstrip("/"))
                    if m.isreg():
                        self.files[posixpath.join(staging, name)] = tar.extractfile(m).read()  # type: ignore[union-attr]
                    elif m.isdir():
                        self.dirs.add(posixpath.join(staging, name))
        except (tarfile.TarError, EOFError, OSError) as e:
            return fail(argv, f"tar: {e}", 2)
        return ""


def _dir(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o700
    return info


def world(tmp_path: Path, spec_text: str = EXAMPLE) -> World:
    """The notes app (examples/lab-notes.toml) applied and running, one backup's worth of data."""
    host = FakeHost()
    spec = parse_spec(spec_text, "notes.toml")
    layout = Layout(spec.name, spec.home)
    spec_file = tmp_path / "notes.toml"
    spec_file.write_text(spec_text)
    record = app_record(spec.name, uid=2100, gid=2100, home=spec.home, spec_path=str(spec_file))
    app = App(record, spec, host)
    w = World(host, app, str(spec_file))
    w.dirs |= {spec.home, layout.backups_dir, f"{spec.home}/database", f"{spec.home}/uploads", layout.secrets_dir}
    w.files[layout.applied_spec] = spec_text.encode()
    w.files[layout.secret_file("db_password")] = b"s3cret-password\n"
    w.files[f"{spec.home}/database/pgdata/PG_VERSION"] = b"17\n"
    w.local = {DB_IMAGE: iid("pg17"), APP_IMAGE: iid("notes1")}
    w.registry = dict(w.local)
    w.majors = {iid("pg17"): 17}
    w.running = {"database": iid("pg17"), "app": iid("notes1")}
    w.active = {layout.pod_service, "database.service", "app.service"}
    w.dumps = {"database": b"-- PostgreSQL database dump\nCREATE TABLE notes (text text);\n"}
    w.rows = {"public.notes": 3}
    for prog in ("mkdir", "mktemp", "test", "dd", "cat", "tar", "mv", "rm", "chmod", "cp", "find"):
        host.on(prog, answer=w.coreutils)
    host.on("podman", answer=w.podman)
    host.on("systemctl", "--user", answer=w.systemctl)
    return w
