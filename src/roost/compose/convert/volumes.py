"""Volumes and mounts: named and anonymous volumes, binds, tmpfs, SELinux labels."""

from __future__ import annotations

import posixpath
import re

import roost.compose.runtime as runtime
from roost.compose.convert.base import ConverterBase, check_path
from roost.compose.convert.draft import ContainerDraft, SpecDraft
from roost.compose.load import YMap, YSeq
from roost.spec.model import VOLUME_OPTIONS, check_host_dir

# names under the app's home that roost itself uses: a volume directory must not take them
HOME_RESERVED = {"env", "backups", ".config", ".local", ".bashrc", ".bash_profile", "history.jsonl", ".cache"}
PROPAGATION = {"shared", "rshared", "slave", "rslave", "private", "rprivate"}


class VolumesMixin(ConverterBase):
    """Each service's volumes as directories under the app's home (or findings), then their SELinux labels."""

    def _volumes(self, svc: str, cname: str, body: YMap, c: ContainerDraft, draft: SpecDraft) -> None:
        where = f"services.{svc}.volumes"
        vols = body.get("volumes")
        top = self.tree.get("volumes")
        named = set(top.items) if isinstance(top, YMap) else set()
        targets: set[str] = set()
        if not isinstance(vols, YSeq):
            return
        for i, item in enumerate(vols.items):
            line = vols.at(i)
            kind, source, target, opts = "volume", "", "", []
            if isinstance(item, YMap):
                kind = str(item.get("type") or "volume")
                source = str(item.get("source") or "")
                target = str(item.get("target") or "")
                if runtime.boolean(item.get("read_only")):
                    opts.append("ro")
                for k in ("volume", "consistency", "image"):
                    if k in item.items:
                        self.add("dropped", item.at(k), where, f"volume option `{k}` is not modelled")
                bind = item.get("bind")
                if isinstance(bind, YMap):
                    for k in bind.items:
                        if k == "selinux" and bind.get(k) in ("z", "Z"):
                            opts.append(bind.get(k))
                        elif k == "propagation":
                            opts.append(str(bind.get(k)))  # reported below with the short form's
                        elif k != "create_host_path" or runtime.boolean(bind.get(k)) is False:
                            self.add("dropped", bind.at(k), where, f"bind option `{k}` is not modelled")
                tmp = item.get("tmpfs")
                if kind == "tmpfs":
                    entry = runtime.tmpfs_entry(str(target).strip(), tmp.get("size") if isinstance(tmp, YMap) else None,
                                                tmp.get("mode") if isinstance(tmp, YMap) else None)
                    if entry is None:
                        self.add("dropped", line, where, f"tmpfs on {target!r}: not a tmpfs roost takes")
                    else:
                        c.tmpfs.append(entry)
                    continue
            else:
                parts = str(item).split(":")
                if len(parts) == 1:
                    target = parts[0]
                else:
                    source, target = parts[0], parts[1]
                    opts = [o for o in ",".join(parts[2:]).split(",") if o]
                if source and not source.startswith((".", "/", "~")):
                    kind = "volume"
                elif source:
                    kind = "bind"
            if kind in ("npipe", "image", "cluster"):
                self.add("dropped", line, where, f"{kind} mount of {target} is not modelled")
                continue
            target = target.strip()
            if not target.startswith("/") or not check_path(target):
                self.add("dropped", line, where, f"container path {target!r} is not an absolute path")
                continue
            target = posixpath.normpath(target)
            if target in targets:
                self.add("dropped", line, where, f"{target} is mounted twice: the second mount dropped")
                continue
            kept = []
            for o in opts:
                if o in VOLUME_OPTIONS:
                    kept.append(o)
                elif o in PROPAGATION:
                    self.add("dropped", line, where, f"bind propagation {o!r} is not modelled: mounts made later under "
                             f"{target} on one side are not seen on the other",
                             "if the app relies on it (a backup agent, a FUSE mount), run it outside roost")
                else:
                    self.add("info", line, where, f"volume option {o!r} dropped (no meaning for podman here)")
            host: str | None
            if kind == "volume":
                if not source:
                    host = _safe_dir(f"{cname}{target.replace('/', '-')}")
                    self.add("approximated", line, where,
                             f"anonymous volume {target} kept in directory {host} under the home (it persists)")
                else:
                    host = _safe_dir(source)
                    if source not in named:
                        self.add("info", line, where, f"volume {source} is not declared under top-level volumes")
            else:
                host = self._bind_source(source, target, line, where, draft)
                if host is None:
                    continue
            self.volume_users.setdefault(host, []).append(cname)
            targets.add(target)
            c.volumes.append(_join_volume(host, target, kept))
        # private SELinux label unless another container mounts the same directory (then shared)
        # (fixed up in _relabel once every service is read)

    def _bind_source(self, source: str, target: str, line: int, where: str, draft: SpecDraft) -> str | None:
        if source.startswith("~"):
            rel = posixpath.normpath(source[1:].lstrip("/")) or "home"
            self.add("approximated", line, where,
                     f"{source} (the home of whoever runs compose) -> {rel} under the app's home",
                     f"copy what {source} holds into the app's home before applying")
            return _safe_dir(rel)
        if source.startswith("/"):
            path = posixpath.normpath(source)
            if path.startswith("//"):
                path = "/" + path.lstrip("/")
            if path in ("/var/run/docker.sock", "/run/docker.sock", "/var/run/docker.sock.raw"):
                self.add("dropped", line, where,
                         f"{source} dropped: there is no Docker socket under rootless Podman",
                         "if the app must manage containers, mount the app user's podman socket "
                         "(/run/user/UID/podman/podman.sock, after `systemctl --user enable --now podman.socket`)")
                return None
            if path in ("/etc/localtime", "/etc/timezone", "/usr/share/zoneinfo"):
                self.add("dropped", line, where, f"{source} is not mounted: the host's time zone is a system file",
                         "set the time zone in the container's env instead, e.g. TZ = \"Europe/Berlin\"")
                return None
            try:
                check_host_dir(path, "a host path given to containers")
            except ValueError as e:
                self.add("dropped", line, where, f"{source} is not mounted: {e}",
                         "keep what the container needs in the app's home and mount it from there")
                return None
            draft.skipped.append(f"{where}: {path}:{target} (a host path: allow it by hand if the app needs it)")
            self.add("dropped", line, where, f"host path {path} is not mounted: roost never grants a host path "
                     "on its own",
                     f"if the app must see it, add \"{path}\" to app.allow_host_paths and \"{path}:{target}\" to "
                     "this container's volumes (the app's user must be able to read it)")
            return None
        rel = posixpath.normpath(source)
        if rel.startswith(".."):
            new = _safe_dir(rel.lstrip("./").replace("../", "") or "data")
            self.add("approximated", line, where,
                     f"{source} is outside the compose folder: the app's home gets directory {new} instead",
                     f"copy {source} into the app's home as {new}")
            return new
        if rel == ".":
            new = "project"
            self.add("approximated", line, where, f"the compose folder itself -> {new} under the app's home",
                     f"copy the folder's files into the app's home as {new}")
            return new
        host = _safe_dir(rel)
        self.add("review", line, where,
                 f"{source} -> {host} under the app's home (created as an empty directory if missing)",
                 f"copy {source} from the compose folder into the app's home as {host} before applying")
        return host

    def relabel(self, draft: SpecDraft) -> None:
        shared = {h for h, users in self.volume_users.items() if len(set(users)) > 1}
        for c in draft.containers.values():
            out = []
            for v in c.volumes:
                host, target, opts = _split_volume(v)
                if not host.startswith("/") and not {"z", "Z"} & set(opts):
                    opts = [*opts, "z" if host in shared else "Z"]
                out.append(_join_volume(host, target, opts))
            c.volumes = out


def _safe_dir(name: str) -> str:
    parts = [re.sub(r"[^A-Za-z0-9._-]+", "-", p).strip("-") or "data" for p in name.split("/") if p not in ("", ".")]
    parts = [p if p not in ("..",) else "up" for p in parts] or ["data"]
    if parts[0] in HOME_RESERVED or parts[0].startswith("."):
        parts[0] = "data-" + parts[0].lstrip(".")
    return "/".join(parts)


def _split_volume(v: str) -> tuple[str, str, list[str]]:
    parts = v.split(":")
    return parts[0], parts[1], (parts[2].split(",") if len(parts) > 2 else [])


def _join_volume(host: str, target: str, opts: list[str]) -> str:
    return f"{host}:{target}" + (f":{','.join(opts)}" if opts else "")
