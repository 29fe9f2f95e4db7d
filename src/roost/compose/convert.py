"""A compose file (as a located tree) -> a roost spec draft, and a report of everything not carried over as is.

Pure: no files, no host. Each service becomes a container with a network namespace of its own on the app's
private network ([network]): it is found by its service name and aliases, publishes its own ports, and two
services may listen on one port. `network_mode: "service:X"` shares X's namespace."""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import roost.compose.extends as extends
import roost.compose.runtime as runtime
import roost.compose.secrets as sec
from roost.compose.interpolate import parse_dotenv
from roost.compose.load import YMap, YSeq
from roost.compose.report import Report
from roost.errors import UsageError
from roost.spec.model import (
    ENV_KEY_RE,
    HOST_NAME_RE,
    IMAGE_RE,
    NAME_RE,
    RESERVED_NAMES,
    VOLUME_OPTIONS,
    check_host_dir,
    check_text,
)

LOCALHOST = "127.0.0.1"
MAX_RANGE = 100  # port ranges are expanded one mapping a port; refuse silly ones
# names under the app's home that roost itself uses: a volume directory must not take them
HOME_RESERVED = {"env", "backups", ".config", ".local", ".bashrc", ".bash_profile", "history.jsonl", ".cache"}

# service keys the converter reads; every other key is reported (x- extension fields are skipped)
HANDLED = {"image", "build", "ports", "expose", "volumes", "environment", "env_file", "healthcheck", "depends_on",
           "command", "entrypoint", "cap_add", "cap_drop", "read_only", "labels", "restart", "profiles", "networks",
           "network_mode", "privileged", "devices", "container_name", "hostname", "links", "security_opt", "tmpfs",
           "user", "deploy", "mem_limit", "cpus", "pids_limit"}
PROPAGATION = {"shared", "rshared", "slave", "rslave", "private", "rprivate"}
DEPLOY_KEYS = {"resources", "restart_policy", "replicas", "mode"}  # the deploy: keys the converter reads
ADVICE = {
    "working_dir": "set it in the image (WORKDIR) or wrap the command",
    "ulimits": "ulimits are not modelled; podman's defaults apply",
    "sysctls": "sysctls are not modelled (a rootless pod cannot set most of them)",
    "logging": "logs go to the journal: `roost logs APP`",
    "stop_grace_period": "systemd's default stop timeout applies",
    "extra_hosts": "add the host names to the image or use IP addresses",
    "dns": "the pod uses the host's resolver",
    "shm_size": "podman's default /dev/shm (64 MB) applies",
    "init": "use an image with its own init, or add one to the command",
    "secrets": "make it a generated secret ([secrets]) passed in env, or mount the file from the app's home",
    "configs": "keep the file in the app's home and mount it as a volume",
    "volumes_from": "mount the same volumes explicitly",
    "stop_signal": "systemd stops the container with podman's default signal",
    "tty": "not needed for a service run by systemd",
    "stdin_open": "not needed for a service run by systemd",
    "pull_policy": "roost pulls a missing image and `roost update` pulls newer ones",
    "platform": "the host's platform is used",
    "pid": "containers of one pod do not share a PID namespace in roost",
    "ipc": "not modelled",
    "group_add": "set the groups in the image",
    "external_links": "reach other apps through their published ports",
    "scale": "one container runs per service",
}


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


def _slug(text: str, limit: int = 31) -> str:
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    s = re.sub(r"-{2,}", "-", s)
    if not s or not s[0].isalpha():
        s = "c-" + s if s else "c"
    return s[:limit].rstrip("-")


def _app_name(opts: Options, tree: YMap, report: Report) -> str:
    raw = opts.name or (tree.get("name") if isinstance(tree.get("name"), str) else None) or opts.default_name
    if opts.name:
        if not NAME_RE.match(opts.name) or opts.name in RESERVED_NAMES:
            raise UsageError(f"--name {opts.name!r} is not a valid app name",
                             "use 1-31 lower-case letters, digits and '-', starting with a letter, not a system name")
        return opts.name
    name = _slug(raw)
    if name in RESERVED_NAMES:
        name = f"{name}-app"
    if name != raw:
        report.add("info", tree.at("name") if "name" in tree.items else None, "name",
                   f"app named {name!r} (from {raw!r})", "pass --name to choose another")
    return name


def _duration(value: Any) -> float | None:
    """Compose durations (`1m30s`, `500ms`, `10s`, or a number of seconds) -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)(ms|us|µs|ns|h|m|s)", value.strip())
    if not parts or "".join(a + b for a, b in parts) != value.strip():
        return None
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    return sum(float(a) * scale[b] for a, b in parts)


def _spec_duration(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    if ms % 3_600_000 == 0 and ms:
        return f"{ms // 3_600_000}h"
    if ms % 60_000 == 0 and ms:
        return f"{ms // 60_000}m"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def _qualify(image: str) -> str:
    """What docker means by a short name: docker.io/library/NAME or docker.io/ORG/NAME."""
    first = image.split("/")[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image}" if "/" in image else f"docker.io/library/{image}"


class Converter:
    def __init__(self, tree: YMap, source: str, opts: Options, report: Report) -> None:
        self.tree = tree
        self.source = source
        self.opts = opts
        self.report = report
        self.env_lines: dict[tuple[str, str], int] = {}
        self.hosts: dict[str, set[str]] = {}  # service -> names other services use to reach it
        self.volume_users: dict[str, list[str]] = {}  # host dir -> containers mounting it
        self.no_value: dict[tuple[int, str], list[str]] = {}
        self.env_file_values: set[str] = set()  # every value the services' env files hold
        self.unread_env_files: list[tuple[str, int]] = []  # (line, KEY) -> services where it had no value
        self.shares: dict[str, str] = {}  # service -> the service whose namespace it joins (network_mode)
        self.from_shell: list[tuple[str, int]] = []  # (KEY, line): a bare `- KEY` that took the shell's value

    # -- helpers --------------------------------------------------------------------------------
    def add(self, kind: str, line: int | None, where: str, did: str, todo: str = "", file: str | None = None) -> None:
        self.report.add(kind, line, where, did, todo, file)  # type: ignore[arg-type]

    def run(self) -> SpecDraft:
        tree = self.tree
        services = tree.get("services")
        if not isinstance(services, YMap) or not services.items:
            raise UsageError(f"{self.source}: no `services:` to import", "give a compose file with a services: mapping")
        draft = SpecDraft(self.source, _app_name(self.opts, tree, self.report))
        services = extends.resolve(services, self.add)
        self._top_level(services)
        names = self._names(services, draft)
        for svc, body in services.items.items():
            if svc not in names:
                continue
            c = self._service(svc, body, services.at(svc), names, draft)
            if c is not None:
                draft.containers[names[svc]] = c
        if not draft.containers:
            why = "".join(f"\n  {f.render(self.source)}" for f in self.report.sorted() if f.kind == "dropped")
            raise UsageError(f"{self.source}: no service could be imported:{why}",
                             "each line above says what to do (roost runs images; it does not build them)")
        for (line, key), svcs in self.no_value.items():
            self.add("info", line, f"services.{','.join(svcs)}.environment.{key}",
                     f"{key} is left out: it has no value and is not set here (compose would leave it out too)",
                     f"to pass it, set {key} when importing (environment, .env, --env-file) or in the spec")
        self._requires(services, names, draft)
        self.share_namespaces(names, draft)
        self.name_hosts(draft)
        self.relabel(draft)
        self._secrets(draft)
        return draft

    def _top_level(self, services: YMap) -> None:
        tree = self.tree
        for key in tree.items:
            if key in ("services", "name", "version") or key.startswith("x-"):
                continue
            if key == "volumes":
                vols = tree.get("volumes")
                for vname, vbody in (vols.items.items() if isinstance(vols, YMap) else []):
                    if not isinstance(vbody, YMap):
                        continue
                    if runtime.boolean(vbody.get("external")):
                        self.add("review", vols.at(vname), f"volumes.{vname}",
                                 "external volume: roost keeps this data in a directory under the app's home",
                                 "copy the volume's data there before the first apply")
                    for k in ("driver", "driver_opts", "labels", "name"):
                        if k not in vbody.items or (k == "driver" and vbody.get(k) == "local"):
                            continue  # `driver: local` is what a directory under the home amounts to
                        self.add("info" if k in ("labels", "name") else "dropped", vbody.at(k), f"volumes.{vname}.{k}",
                                 f"volume `{k}` is not modelled: the volume is a directory under the home")
                continue
            if key == "networks":
                nets = tree.get("networks")
                names = list(nets.items) if isinstance(nets, YMap) else []
                if len(names) > 1:
                    self.add("approximated", tree.at("networks"), "networks",
                             f"{len(names)} networks ({', '.join(names)}) become one: every service shares the pod's "
                             "network, so services the file kept apart can reach each other",
                             "split the app into several specs if that isolation matters")
                for net in names:
                    body = nets.get(net)
                    if not isinstance(body, YMap):
                        continue
                    if runtime.boolean(body.get("internal")):
                        self.add("approximated", body.at("internal"), f"networks.{net}.internal",
                                 "internal: true is not carried over: the app's containers can reach the internet",
                                 "set network.internal = true if no container needs the internet")
                    if body.get("external") or (body.get("driver") not in (None, "bridge")) or body.get("ipam"):
                        self.add("dropped", nets.at(net), f"networks.{net}",
                                 "network options (external, driver, ipam) are not modelled",
                                 "reach other apps through published ports instead")
                continue
            self.add("dropped", tree.at(key), key, f"top-level `{key}` is not imported",
                     {"secrets": "declare generated values in [secrets] or keep files in the home and mount them",
                      "configs": "keep the files in the app's home and mount them as volumes",
                      "include": "import each included file and merge the specs by hand"}.get(key, ""))

    def _names(self, services: YMap, draft: SpecDraft) -> dict[str, str]:
        names: dict[str, str] = {}
        taken: set[str] = set()
        for svc, body in services.items.items():
            line = services.at(svc)
            if not isinstance(body, YMap):
                self.add("dropped", line, f"services.{svc}", "not a mapping: service not imported")
                draft.skipped.append(f"{svc}: not a mapping")
                continue
            profiles = body.get("profiles")
            if isinstance(profiles, YSeq) and profiles.items:
                wanted = [str(p) for p in profiles.items]
                if not set(wanted) & set(self.opts.profiles):
                    self.add("dropped", body.at("profiles"), f"services.{svc}",
                             f"not imported: only in profile(s) {', '.join(wanted)}",
                             f"import with --profile {wanted[0]} to include it")
                    draft.skipped.append(f"{svc}: only in profile(s) {', '.join(wanted)}")
                    continue
            name = _slug(svc)
            base, n = name, 2
            while name in taken:
                name, n = f"{base[:28]}-{n}", n + 1
            taken.add(name)
            names[svc] = name
            if name != svc:
                self.add("info", line, f"services.{svc}", f"container named {name!r} (roost's names: a-z, 0-9, '-')")
            hosts = self.hosts.setdefault(svc, {svc})
            for k in ("container_name", "hostname"):
                if isinstance(body.get(k), str):
                    hosts.add(body.get(k))
            nets = body.get("networks")
            if isinstance(nets, YMap):
                for nbody in nets.items.values():
                    if isinstance(nbody, YMap) and isinstance(nbody.get("aliases"), YSeq):
                        hosts.update(str(a) for a in nbody.get("aliases").items)
            links = body.get("links")
            if isinstance(links, YSeq):
                for link in links.items:
                    link_name, _, alias = str(link).partition(":")
                    self.hosts.setdefault(link_name, {link_name}).add(alias or link_name)
        return names

    # -- one service ----------------------------------------------------------------------------
    def _service(self, svc: str, body: YMap, line: int, names: dict[str, str], draft: SpecDraft) -> ContainerDraft | None:
        where = f"services.{svc}"
        cname = names[svc]
        image = body.get("image")
        build = body.get("build")
        if not isinstance(image, str) or not image.strip():
            if build is not None:
                self.add("dropped", body.at("build"), where,
                         "not imported: `build:` without `image:` (roost runs images, it does not build them)",
                         f"build and push the image (podman build -t REGISTRY/{cname}:TAG CONTEXT), then add "
                         f"[containers.{cname}] with image = that reference")
                draft.skipped.append(f"{svc}: build: without image:")
            elif "image" in body.items:
                self.add("dropped", body.at("image"), f"{where}.image", "not imported: `image:` is empty",
                         "set the variable it names when importing, or write the image reference")
            else:
                self.add("dropped", line, where, "not imported: no `image:`", "add an image reference")
                draft.skipped.append(f"{svc}: no image")
            return None
        ref = image.strip()
        if ref.endswith(":"):  # ${TAG} unset: compose would fail; the image's default tag is the closest
            ref = ref[:-1]
            self.add("approximated", body.at("image"), f"{where}.image", f"empty tag dropped: {ref}",
                     "set the variable that names the tag, or write the tag in the spec")
        qualified = _qualify(ref)
        if not IMAGE_RE.match(qualified):
            self.add("dropped", body.at("image"), f"{where}.image",
                     f"not imported: {ref!r} is not an image reference roost accepts",
                     "write a lower-case reference like registry.example.org/team/app:1.2")
            draft.skipped.append(f"{svc}: invalid image")
            return None
        if qualified != ref:
            self.add("info", body.at("image"), f"{where}.image", f"short name {ref} written as {qualified}",
                     "")
        c = ContainerDraft(svc, line, qualified)
        c.lines = {k: body.at(k) for k in ("healthcheck", "command", "entrypoint")}
        if build is not None:
            self.add("review", body.at("build"), f"{where}.build",
                     "`build:` ignored: roost pulls the image named by `image:`",
                     "build and push that image before applying if no registry has it")
            c.notes["image"] = "the compose file also builds this image (build: ignored)"
        for key in body.items:
            if key in HANDLED or key.startswith("x-"):
                continue
            self.add("dropped", body.at(key), f"{where}.{key}", f"`{key}` is not modelled",
                     ADVICE.get(key, "check whether the app needs it"))
        self._network(svc, body)
        self._env(svc, cname, body, c)
        self._ports(svc, cname, body, draft)
        self._volumes(svc, cname, body, c, draft)
        self._health(svc, body, c)
        if not self._command(svc, body, c):
            draft.skipped.append(f"{svc}: command or entrypoint cannot be carried over")
            return None
        self._privileges(svc, body, c)
        self._labels(svc, body, c)
        c.restart = runtime.restart(svc, body, line, self.add)
        c.limits = runtime.limits(svc, body, self.add)
        c.user = runtime.user(svc, body, self.add)
        c.tmpfs += runtime.tmpfs(svc, body, self.add)
        self._deploy(svc, body)
        for k in ("container_name", "hostname"):
            if k in body.items:
                self.add("info", body.at(k), f"{where}.{k}",
                         f"roost names the container APP-{cname}; the name stays a network alias (aliases)")
        if "links" in body.items:
            self.add("info", body.at("links"), f"{where}.links", "dropped: all services share the app's network")
        return c

    def _deploy(self, svc: str, body: YMap) -> None:
        deploy = body.get("deploy")
        if not isinstance(deploy, YMap):
            return
        where = f"services.{svc}.deploy"
        for key in deploy.items:
            if key not in DEPLOY_KEYS:
                self.add("dropped", deploy.at(key), f"{where}.{key}", f"`{key}` is not modelled (a swarm setting)")
        replicas = deploy.get("replicas")
        if replicas is not None and replicas != 1:
            self.add("approximated", deploy.at("replicas"), f"{where}.replicas",
                     f"{replicas} replicas -> one container", "run more workers inside it if the image allows")
        resources = deploy.get("resources")
        if isinstance(resources, YMap):
            for key in resources.items:
                if key != "limits":
                    self.add("dropped", resources.at(key), f"{where}.resources.{key}",
                             f"`{key}` is not modelled (roost sets limits, not reservations or devices)")

    def _network(self, svc: str, body: YMap) -> None:
        where = f"services.{svc}"
        mode = body.get("network_mode")
        if mode is not None:
            if mode == "host":
                self.add("approximated", body.at("network_mode"), f"{where}.network_mode",
                         "network_mode: host dropped: the container runs on the app's network; it sees only the "
                         "ports it publishes",
                         "publish the ports it serves in its `publish` (it cannot see the host's interfaces)")
            elif isinstance(mode, str) and mode.startswith("service:"):
                self.shares[svc] = mode.removeprefix("service:")
            else:
                self.add("approximated", body.at("network_mode"), f"{where}.network_mode",
                         f"network_mode: {mode} dropped: the container joins the app's network")
        nets = body.get("networks")
        count = len(nets.items) if isinstance(nets, (YMap, YSeq)) else 0
        if count > 1:
            self.add("approximated", body.at("networks"), f"{where}.networks",
                     f"on {count} networks: roost gives the app one network shared by every container",
                     "if the app must reach containers of another app, go through that app's published port")
        if isinstance(nets, YMap):
            for net, nbody in nets.items.items():
                if isinstance(nbody, YMap):
                    for k in nbody.items:
                        if k != "aliases":
                            self.add("dropped", nbody.at(k), f"{where}.networks.{net}.{k}",
                                     f"network setting `{k}` is not modelled")

    # -- environment ----------------------------------------------------------------------------
    def _env(self, svc: str, cname: str, body: YMap, c: ContainerDraft) -> None:
        where = f"services.{svc}.environment"
        env = body.get("environment")
        pairs: list[tuple[str, Any, int]] = []
        if isinstance(env, YMap):
            pairs = [(k, v, env.at(k)) for k, v in env.items.items()]
        elif isinstance(env, YSeq):
            for i, item in enumerate(env.items):
                text = "" if item is None else str(item)
                key, sep, value = text.partition("=")
                pairs.append((key, value if sep else None, env.at(i)))
        elif env is not None:
            self.add("dropped", body.at("environment"), where, "not a list or a mapping: ignored")
        for key, value, line in pairs:
            key = key.strip()
            if not ENV_KEY_RE.match(key):
                self.add("dropped", line, where, f"variable {key!r} dropped: not a valid name",
                         "roost passes names of letters, digits and '_': if the app reads this one (Spring's "
                         "dotted names), use its underscore form (SPRING_DATASOURCE_URL) or a config file")
                continue
            if value is None:  # `- KEY` / `KEY:`: compose passes the value of its own environment, if set
                if key in self.opts.env:
                    value = self.opts.env[key]
                    if key in self.opts.shell:
                        self.from_shell.append((key, line))
                else:
                    self.no_value.setdefault((line, key), []).append(svc)
                    continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            value = str(value)
            try:
                check_text(value)
            except ValueError as e:
                self.add("dropped", line, f"{where}.{key}", f"{key} dropped: its value {e}",
                         "put it in a file in the app's home and mount it")
                continue
            if "${secrets." in value:  # would name a roost secret the spec does not declare
                self.add("dropped", line, f"{where}.{key}", f"{key} dropped: its value mentions ${{secrets.…}}",
                         "declare the secret in [secrets] and write the value in the spec")
                continue
            c.env[key] = value
            self.env_lines[(cname, key)] = line
        ef = body.get("env_file")
        files: list[tuple[str, bool, int]] = []
        if isinstance(ef, str):
            files.append((ef, True, body.at("env_file")))
        elif isinstance(ef, YSeq):
            for i, item in enumerate(ef.items):
                if isinstance(item, str):
                    files.append((item, True, ef.at(i)))
                elif isinstance(item, YMap) and isinstance(item.get("path"), str):
                    files.append((item.get("path"), item.get("required", True) is not False, ef.at(i)))
        for path, _, line in files:
            content = self.opts.read_env_file(path) if self.opts.read_env_file else None
            if content is None:
                self.unread_env_files.append((path, line))
                continue
            self._env_file_meaning(svc, path, content)
            for value in parse_dotenv(content, self.opts.env).values():
                self.env_file_values.add(value)
                self.env_file_values.update(m.group("pw") for m in sec.URL_PASSWORD_RE.finditer(value))
        for n, (path, required, line) in enumerate(files):
            if n > 0:
                self.add("dropped", line, f"services.{svc}.env_file",
                         f"{path}: a container reads one env file in roost",
                         f"merge {path} into {files[0][0]}")
                continue
            norm = posixpath.normpath(posixpath.join(self.opts.env_file_prefix, path))
            if path.startswith("/") or norm.startswith(".."):
                self.add("dropped", line, f"services.{svc}.env_file",
                         f"{path}: an env file must sit in the spec's folder", "copy it there and set env_file")
                continue
            c.env_file = norm
            c.notes["env_file"] = "read when you plan: it must exist beside the spec"
            self.add("review", line, f"services.{svc}.env_file",
                     f"env_file = {norm!r} (relative to the spec's folder)"
                     + ("" if required else "; compose's `required: false` is not modelled: the file must exist"),
                     "keep the file beside the spec")

    def _env_file_meaning(self, svc: str, path: str, content: str) -> None:
        """A finding on each line of an env file that roost (podman's --env-file: KEY=VALUE taken
        literally) reads otherwise than compose (quotes removed, ${VAR} interpolated, `export`)."""
        from roost.render.envfile import parse_env

        for number, raw in enumerate(content.splitlines(), start=1):
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            try:
                compose = parse_dotenv(raw, self.opts.env)
            except UsageError:
                compose = {}
            try:
                ours: dict[str, str] | None = parse_env(raw)
            except ValueError:
                ours = None
            if ours == compose:
                continue
            key = next(iter(compose), raw.split("=")[0].strip())
            did = (f"{key}: roost refuses this line (plan and check stop)" if ours is None
                   else f"{key}: roost passes the value as written, compose reads it otherwise "
                        "(quotes, ${VAR} or a comment)")
            self.add("approximated", number, f"services.{svc}.env_file", did,
                     "write KEY=VALUE with the value exactly as the app should see it (no quotes, no export, "
                     "no ${VAR})", file=path)

    # -- ports ----------------------------------------------------------------------------------
    def _ports(self, svc: str, cname: str, body: YMap, draft: SpecDraft) -> None:
        where = f"services.{svc}.ports"
        ports = body.get("ports")
        mappings: list[tuple[str | None, str | None, str, str, int]] = []  # ip, host, container, proto, line
        if isinstance(ports, YSeq):
            for i, item in enumerate(ports.items):
                line = ports.at(i)
                if isinstance(item, YMap):
                    target = item.get("target")
                    published = item.get("published")
                    mappings.append((item.get("host_ip"), None if published is None else str(published),
                                     str(target), str(item.get("protocol") or "tcp"), line))
                    continue
                parsed = _parse_port(str(item))
                if parsed is None:
                    self.add("dropped", line, where, f"{item!r} is not a port mapping")
                    continue
                mappings.append((*parsed, line))
        expose = body.get("expose")
        if isinstance(expose, YSeq):
            self.add("info", body.at("expose"), f"services.{svc}.expose",
                     "dropped: containers reach each other's ports by name on the app's network")
        for ip, host, ctr, proto, line in mappings:
            if proto not in ("tcp", "udp"):
                self.add("dropped", line, where, f"protocol {proto} is not supported (tcp, udp)")
                continue
            try:
                ctr_ports = _port_range(ctr)
                host_ports = _port_range(host) if host else ctr_ports
            except ValueError as e:
                self.add("dropped", line, where, f"{e}")
                continue
            if len(host_ports) != len(ctr_ports) or len(ctr_ports) > MAX_RANGE:
                self.add("dropped", line, where, f"port range {host}:{ctr} not imported",
                         "list the ports one by one in the container's publish")
                continue
            if not host:
                self.add("approximated", line, where,
                         f"container port {ctr} had no host port (compose picks a random one): published on {ctr}",
                         "change the host port in the container's publish if it is taken")
            if ip in (None, "") and proto == "udp":  # clients reach it directly: no HTTP proxy can stand in front
                addr = "0.0.0.0"
                self.add("review", line, where,
                         f"UDP port {host or ctr} published on every address, as the compose file does",
                         f"let it through the host's firewall (nft add rule inet filter input udp dport {host or ctr} "
                         f"accept, or ufw allow {host or ctr}/udp)")
            elif ip in (None, ""):
                addr = LOCALHOST
                draft.publish_notes = ["127.0.0.1 where the compose file named no address"]
                self.add("approximated", line, where,
                         "published on 127.0.0.1 only (the compose file listens on every address)",
                         "put a reverse proxy in front, or write 0.0.0.0:HOST:CONTAINER in the container's publish")
            else:
                addr = str(ip)
                if addr.startswith("[") is False and ":" in addr:
                    addr = f"[{addr}]"
                if addr not in (LOCALHOST, "[::1]"):
                    self.add("review", line, where, f"published on {addr} as the compose file says",
                             f"the host's firewall must let {host or ctr}/{proto} in; for a web app 127.0.0.1 with "
                             "a reverse proxy in front is safer")
            for hp, cp in zip(host_ports, ctr_ports, strict=False):
                entry = f"{addr}:{hp}:{cp}" + ("" if proto == "tcp" else f"/{proto}")
                clash = next((p for p in draft.publish if _host_key(p) == (hp, proto)), None)
                if clash:
                    self.add("dropped", line, where, f"host port {hp}/{proto} is already published ({clash})",
                             "pick another host port")
                    continue
                if not _valid_ip(addr):
                    self.add("dropped", line, where, f"{addr} is not an IP address roost can publish on")
                    continue
                draft.publish.append(entry)
                draft.own_publish.setdefault(cname, []).append(entry)
                if hp < 1024:
                    self.add("review", line, where, f"host port {hp} is below 1024",
                             "a rootless pod can publish it only if net.ipv4.ip_unprivileged_port_start allows; "
                             "`roost doctor` checks it, or pick a port >= 1024 behind a reverse proxy")

    def share_namespaces(self, names: dict[str, str], draft: SpecDraft) -> None:
        """network_mode: "service:X" -> share_network_with X; what it published moves to X."""
        for svc, other in self.shares.items():
            c = names.get(svc)
            if c not in draft.containers:
                continue
            line = draft.containers[c].line
            target = names.get(other)
            if target not in draft.containers or other in self.shares:
                self.add("dropped", line, f"services.{svc}.network_mode",
                         f"service:{other} is not an imported service with a network namespace of its own: "
                         "the container gets its own", "check which service it must share localhost with")
                continue
            draft.shares[c] = target
            moved = draft.own_publish.pop(c, [])
            draft.own_publish.setdefault(target, []).extend(moved)
            for entry in moved:
                self.add("info", line, f"services.{svc}.ports",
                         f"{entry} is published by {target}, whose network namespace {c} shares")

    # -- volumes --------------------------------------------------------------------------------
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

    # -- health, command ------------------------------------------------------------------------
    def _health(self, svc: str, body: YMap, c: ContainerDraft) -> None:
        where = f"services.{svc}.healthcheck"
        hc = body.get("healthcheck")
        if hc is None:
            return
        if not isinstance(hc, YMap):
            self.add("dropped", body.at("healthcheck"), where, "not a mapping: ignored")
            return
        if runtime.boolean(hc.get("disable")):
            self.add("info", hc.at("disable"), where, "disabled: the container has no health check")
            return
        test = hc.get("test")
        cmd: str | None = None
        if isinstance(test, str):
            cmd = test
        elif isinstance(test, YSeq) and test.items:
            head = str(test.items[0])
            args = [str(a).rstrip("\n") for a in test.items[1:]]  # YAML's `|` ends a block with a newline
            if head == "NONE":
                self.add("info", hc.at("test"), where, "NONE: the image's health check is turned off")
                return
            if head == "CMD-SHELL" and args:
                cmd = " ".join(args)
            elif head == "CMD" and args:
                cmd = shlex.join(args)
            else:
                self.add("dropped", hc.at("test"), f"{where}.test", "test must start with CMD, CMD-SHELL or NONE")
                return
        elif "test" not in hc.items:
            self.add("approximated", hc.line, where,
                     "no `test`: the image's own health check still runs in podman, but roost does not know it, so "
                     "neither `requires` nor apply waits for it", "add a test command to make roost wait until healthy")
            return
        if cmd is None:
            return
        cmd = cmd.strip()
        if "\n" in cmd or "\r" in cmd:  # a script: joining its lines would change what it means
            self.add("dropped", hc.at("test"), f"{where}.test",
                     "a multi-line test cannot be written on one unit line: the container has no health check",
                     "put the script in a file (in the image or a mounted volume) and make the test run it")
            return
        if len(cmd) >= 2 and cmd[0] == cmd[-1] == '"':
            cmd = f"{cmd} "[:-1].strip('"')  # Quadlet would drop the quotes anyway
        try:
            check_text(cmd)
        except ValueError as e:
            self.add("dropped", hc.at("test"), f"{where}.test", f"the test {e}")
            return
        if cmd.endswith("\\") or not cmd:
            self.add("dropped", hc.at("test"), f"{where}.test", "the test cannot be written on one line")
            return
        # compose's defaults where the file says nothing (roost's own are shorter)
        health: dict[str, Any] = {"cmd": cmd, "interval": "30s", "timeout": "30s", "retries": 3, "start_period": "0s"}
        for key in ("interval", "timeout", "start_period"):
            if key in hc.items:
                seconds = _duration(hc.get(key))
                if seconds is None:
                    self.add("dropped", hc.at(key), f"{where}.{key}", f"{hc.get(key)!r} is not a duration")
                    continue
                seconds = min(seconds, 7 * 24 * 3600)
                if seconds <= 0 and key != "start_period":
                    continue  # 0 is compose's "default"
                health[key] = _spec_duration(seconds)
        if "retries" in hc.items:
            r = hc.get("retries")
            if isinstance(r, int) and not isinstance(r, bool):
                health["retries"] = max(1, min(100, r))
                if health["retries"] != r:
                    self.add("approximated", hc.at("retries"), f"{where}.retries", f"{r} -> {health['retries']}")
        if "start_interval" in hc.items:
            self.add("info", hc.at("start_interval"), f"{where}.start_interval",
                     "dropped: roost checks every second while the container starts")
        c.health = health

    def _command(self, svc: str, body: YMap, c: ContainerDraft) -> bool:
        """Command and entrypoint; False when one of them cannot be carried over while the other
        is there: an entrypoint without its command (or the reverse) runs something else."""
        where = f"services.{svc}"
        command = self._args(body, "command", where)
        entrypoint = self._args(body, "entrypoint", where)
        lost = [k for k, v in (("command", command), ("entrypoint", entrypoint)) if v is False]
        kept = [k for k, v in (("command", command), ("entrypoint", entrypoint)) if v not in (None, False)]
        if lost and kept:
            self.add("dropped", body.at(lost[0]), where,
                     f"service not imported: its {lost[0]} cannot be carried over, and its {kept[0]} alone would run "
                     "something else",
                     f"put the {lost[0]} in a script (in the image or a mounted file) and import again")
            return False
        if isinstance(command, list):
            c.command = command
        if isinstance(entrypoint, list):
            c.entrypoint = entrypoint
        return True

    def _args(self, body: YMap, key: str, where: str) -> list[str] | bool | None:
        """The arguments of `command` or `entrypoint`; None when absent, False when they cannot be
        written into a unit file (reported)."""
        value = body.get(key)
        if value is None:
            return None
        args: list[str] | None = None
        if isinstance(value, str):
            try:
                args = shlex.split(value)
            except ValueError:
                self.add("dropped", body.at(key), f"{where}.{key}", "cannot be split into arguments")
                return False
        elif isinstance(value, YSeq):
            # a folded (>) or literal (|) item ends with the newline YAML adds: not part of the argument
            args = ["" if a is None else str(a).rstrip("\n") for a in value.items]
        if args is None or (key == "command" and not args) or any(not a or _bad_text(a) for a in args):
            self.add("dropped", body.at(key), f"{where}.{key}",
                     f"the {key} has an empty or multi-line argument, which cannot be passed through a unit file",
                     "wrap it in a script inside the image or a mounted file")
            return False
        return args

    def _privileges(self, svc: str, body: YMap, c: ContainerDraft) -> None:
        where = f"services.{svc}"
        caps = body.get("cap_add")
        if isinstance(caps, YSeq):
            for i, cap in enumerate(caps.items):
                name = str(cap).upper().removeprefix("CAP_")
                if re.fullmatch(r"[A-Z_]{2,32}", name) and name != "ALL":
                    c.cap_add.append(name)
                elif name == "ALL":
                    self.add("approximated", caps.at(i), f"{where}.cap_add",
                             "ALL is not granted: the container keeps podman's default set",
                             "list the capabilities it needs")
                    c.cap_add = ["ALL"]
                    break
                else:
                    self.add("dropped", caps.at(i), f"{where}.cap_add", f"{cap!r} is not a capability name")
        if "cap_drop" in body.items:
            self.add("info", body.at("cap_drop"), f"{where}.cap_drop",
                     "dropped: roost already drops every capability beyond a small default set")
        if runtime.boolean(body.get("read_only")):
            c.read_only = True
        elif "read_only" in body.items and runtime.boolean(body.get("read_only")) is None:
            self.add("dropped", body.at("read_only"), f"{where}.read_only", f"{body.get('read_only')!r} is not a boolean")
        if runtime.boolean(body.get("privileged")):
            self.add("dropped", body.at("privileged"), f"{where}.privileged",
                     "privileged is not granted (a rootless container is never privileged on the host)",
                     "add the capabilities it needs in cap_add; what needs real root will not work")
        if "devices" in body.items:
            self.add("dropped", body.at("devices"), f"{where}.devices",
                     "devices are not passed to the container",
                     "run it outside roost if it needs host devices (GPU, USB, /dev/net/tun)")
        opts = body.get("security_opt")
        if isinstance(opts, YSeq):
            for i, opt in enumerate(opts.items):
                text = str(opt)
                if text.replace("=", ":").startswith("no-new-privileges"):
                    self.add("info", opts.at(i), f"{where}.security_opt", f"{text}: roost sets no_new_privileges")
                else:
                    self.add("dropped", opts.at(i), f"{where}.security_opt", f"{text} is not modelled")

    def _labels(self, svc: str, body: YMap, c: ContainerDraft) -> None:
        labels = body.get("labels")
        items: list[tuple[str, Any, int]] = []
        if isinstance(labels, YMap):
            items = [(k, v, labels.at(k)) for k, v in labels.items.items()]
        elif isinstance(labels, YSeq):
            for i, item in enumerate(labels.items):
                k, _, v = str(item).partition("=")
                items.append((k, v, labels.at(i)))
        other = []
        for k, v, line in items:
            if k.strip() == "io.containers.autoupdate":
                if str(v) in ("registry", "local"):
                    c.auto_update = str(v)
                else:
                    self.add("dropped", line, f"services.{svc}.labels", f"autoupdate {v!r} is not registry or local")
            else:
                other.append((k, line))
        if other:
            self.add("dropped", other[0][1], f"services.{svc}.labels",
                     f"labels not carried over: {', '.join(k for k, _ in other)}",
                     "roost labels containers io.roost.app and io.roost.container; proxies that read labels "
                     "(Traefik) need a rootful socket anyway")

    # -- whole-file passes ----------------------------------------------------------------------
    def _requires(self, services: YMap, names: dict[str, str], draft: SpecDraft) -> None:
        for svc, body in services.items.items():
            cname = names.get(svc)
            if cname not in draft.containers or not isinstance(body, YMap):
                continue
            deps = body.get("depends_on")
            where = f"services.{svc}.depends_on"
            entries: list[tuple[str, str, int]] = []
            if isinstance(deps, YSeq):
                entries = [(str(d), "service_started", deps.at(i)) for i, d in enumerate(deps.items)]
            elif isinstance(deps, YMap):
                for dep, spec in deps.items.items():
                    cond = spec.get("condition", "service_started") if isinstance(spec, YMap) else "service_started"
                    entries.append((dep, str(cond), deps.at(dep)))
                    if isinstance(spec, YMap) and spec.get("required") is False:
                        self.add("approximated", deps.at(dep), where, f"{dep}: required: false -> required")
            c = draft.containers[cname]
            for dep, cond, line in entries:
                target = names.get(dep)
                if target not in draft.containers:
                    self.add("dropped", line, where, f"{dep} is not imported: dependency dropped")
                    continue
                if target == cname or target in c.requires:
                    continue
                c.requires.append(target)
                has_health = draft.containers[target].health is not None
                if cond == "service_healthy" and not has_health:
                    self.add("approximated", line, where,
                             f"{dep}: service_healthy, but {dep} has no health check roost knows: waits until started",
                             f"add a health check to {target}")
                elif cond == "service_completed_successfully":
                    self.add("approximated", line, where,
                             f"{dep}: service_completed_successfully -> requires (roost restarts every container, "
                             "so a one-shot task runs again and again)",
                             f"run {target}'s task by hand (roost shell) or fold it into the app's start")
                elif cond == "service_started" and has_health:
                    self.add("info", line, where,
                             f"{dep}: service_started -> requires, which also waits until {target} is healthy")
        # a cycle would make the spec invalid: break it where it closes
        from roost.spec.model import _find_cycle

        while True:
            cycle = _find_cycle({n: tuple(c.requires) for n, c in draft.containers.items()})
            if not cycle:
                break
            a, b = cycle[-2], cycle[-1]
            draft.containers[a].requires.remove(b)
            self.add("dropped", draft.containers[a].line, f"services.{draft.containers[a].service}.depends_on",
                     f"{a} -> {b} dropped: the dependencies form a cycle")

    def name_hosts(self, draft: SpecDraft) -> None:
        """Service names (and hostnames, aliases, links) resolve to 127.0.0.1 in the pod, as they resolved to
        the service on compose's network: containers of one pod share localhost."""
        imported = {c.service for c in draft.containers.values()}
        wanted = {h for svc, names in self.hosts.items() if svc in imported for h in names}
        good = sorted(h for h in wanted if HOST_NAME_RE.match(h) and h.lower() != "localhost")
        by_name = {c.service: n for n, c in draft.containers.items()}
        for svc, names in sorted(self.hosts.items()):  # compose's names for a service: the container's aliases
            owner = by_name.get(svc)
            if owner is not None:
                owner = draft.shares.get(owner, owner)  # a sharer is found at the namespace it joins
                extra = sorted(h for h in names if h in good and h != owner)
                draft.aliases[owner] = sorted({*draft.aliases.get(owner, []), *extra})
        bad = sorted(wanted - set(good))
        if bad:
            self.add("dropped", self.tree.at("services"), "services",
                     f"names that cannot be host names, so they do not resolve on the app's network: "
                     f"{', '.join(bad)}", "refer to those services by their container names")

    def _secrets(self, draft: SpecDraft) -> None:
        envs = {n: dict(c.env) for n, c in draft.containers.items()}
        plan = sec.find_secrets(envs, self.env_lines, self.env_file_values - {""})
        for n, c in draft.containers.items():
            c.env = plan.env[n]
        for f in plan.found:
            draft.secrets[f.name] = f.length
            where = ", ".join(p.describe() for p in f.places)
            why = {"placeholder": "a placeholder of the app's own secret",
                   "repeated literal": "a password the file repeats"}[f.reason]
            if len(f.places) == 1:
                todo = ("check that whatever uses it gets it from the spec: a client that relies on a built-in "
                        f"default would no longer match (the value is in ~/.config/roost/secrets/{f.name})")
            else:
                todo = (f"nothing to do: roost generates it on the first apply; to log in with it, read "
                        f"~/.config/roost/secrets/{f.name} in the app's home")
            self.add("approximated", f.places[0].line, f"secrets.{f.name}",
                     f"{why} -> generated secret ${{secrets.{f.name}}} ({f.length} letters and digits) in {where}", todo)
        # a health check or command that spells out a replaced value must use the variable instead
        for c in draft.containers.values():
            for name, value in plan.values.items():
                if not value:
                    continue
                token = re.compile(rf"(?<![\w.-]){re.escape(value)}(?![\w.-])")
                after_flag = re.compile(rf"(?P<pre>(?:^|\s)(?:-a|-p|--pass(?:word)?[ =]|PGPASSWORD=|MYSQL_PWD=)\s*)"
                                        rf"{re.escape(value)}(?![\w.-])")
                ref = f"${{secrets.{name}}}"
                var = next((k for k, v in c.env.items() if v == ref), None)
                if c.health and "cmd" in c.health and after_flag.search(c.health["cmd"]):
                    if var:
                        c.health["cmd"] = after_flag.sub(rf'\g<pre>"${var}"', c.health["cmd"])
                        self.add("approximated", c.lines["healthcheck"], f"services.{c.service}.healthcheck",
                                 f"the test reads the password from ${var} instead of spelling it out")
                    else:
                        self.add("review", c.lines["healthcheck"], f"services.{c.service}.healthcheck",
                                 f"the test spells out the value now generated as secrets.{name}",
                                 "make the test read it from an environment variable")
                if c.entrypoint and any(after_flag.search(a) or token.fullmatch(a) for a in c.entrypoint):
                    self.add("review", c.lines["entrypoint"], f"services.{c.service}.entrypoint",
                             f"the entrypoint spells out the value now generated as secrets.{name}",
                             "make it read the value from an environment variable")
                if c.command and any(after_flag.search(a) or token.fullmatch(a) for a in c.command):
                    self.add("review", c.lines["command"], f"services.{c.service}.command",
                             f"the command spells out the value now generated as secrets.{name}",
                             "make the command read it from an environment variable")
        for p in plan.held:
            self.add("review", p.line, f"services.{draft.containers[p.container].service}.environment.{p.key}",
                     "a credential left as written: an env file holds the same value, and an env file cannot "
                     "refer to a generated secret",
                     "keep the spec as private as that env file; if the value is a placeholder, change it in both")
        if plan.found and self.unread_env_files:
            paths = sorted({p for p, _ in self.unread_env_files})
            self.add("review", self.unread_env_files[0][1], "(env files)",
                     f"generated secrets replace values in this file only; not read: {', '.join(paths)}",
                     "if those env files repeat a replaced password, put it in the spec's env instead")
        for p in plan.clear:
            self.add("review", p.line, f"services.{draft.containers[p.container].service}.environment.{p.key}",
                     "a literal credential is written in the spec in clear",
                     "replace it with a generated secret: [secrets] NAME = { generate = 32 } and ${secrets.NAME}")
        for p in plan.weak:
            self.add("review", p.line, f"services.{draft.containers[p.container].service}.environment.{p.key}",
                     "a default password, written once, is kept: whatever connects to this service may rely on the "
                     "image's default (a DATABASE_URL built into the app)",
                     "change it here and wherever the app connects with it, or make both a generated secret")
        for p in plan.external:
            self.add("review", p.line, f"services.{draft.containers[p.container].service}.environment.{p.key}",
                     "placeholder for a credential of an outside service", "fill in the real value")


def check_path(path: str) -> bool:
    try:
        check_text(path)
    except ValueError:
        return False
    return ":" not in path and "," not in path


def _bad_text(value: str) -> bool:
    try:
        check_text(value)
    except ValueError:
        return True
    return False


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


_PORT_RE = re.compile(
    r"^(?:(?P<ip>\[[0-9A-Fa-f:.]+\]|[0-9.]+|[0-9A-Fa-f:]+::[0-9A-Fa-f:]*):)??"
    r"(?:(?P<host>[0-9]+(?:-[0-9]+)?)?:)?(?P<ctr>[0-9]+(?:-[0-9]+)?)(?:/(?P<proto>[a-z]+))?$"
)


def _parse_port(text: str) -> tuple[str | None, str | None, str, str] | None:
    text = text.strip()
    if text.startswith(":") and text.count(":") == 2:  # ":8080:80": an empty address is every address
        text = text[1:]
    m = _PORT_RE.match(text)
    if not m:
        return None
    return m.group("ip"), m.group("host"), m.group("ctr"), m.group("proto") or "tcp"


def _port_range(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    if not lo.isdigit() or (hi and not hi.isdigit()):
        raise ValueError(f"{text!r} is not a port")
    a, b = int(lo), int(hi or lo)
    if not (1 <= a <= b <= 65535):
        raise ValueError(f"port {text} is out of range 1-65535")
    return list(range(a, b + 1))


def _host_key(entry: str) -> tuple[int, str]:
    body, _, proto = entry.partition("/")
    return int(body.rsplit(":", 2)[-2]), proto or "tcp"


def _valid_ip(addr: str) -> bool:
    import ipaddress

    try:
        if addr.startswith("["):
            ipaddress.IPv6Address(addr[1:-1])
        else:
            ipaddress.IPv4Address(addr)
    except ValueError:
        return False
    return True
