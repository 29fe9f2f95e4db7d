"""Services and containers: the file's top level, the services' names and images, privileges and labels; the passes in order."""

from __future__ import annotations

import re
from typing import Any

import roost.compose.extends as extends
import roost.compose.runtime as runtime
from roost.compose.convert.draft import ContainerDraft, Options, SpecDraft
from roost.compose.convert.environment import EnvironmentMixin
from roost.compose.convert.lifecycle import LifecycleMixin
from roost.compose.convert.network import NetworkMixin
from roost.compose.convert.tables import ADVICE, HANDLED
from roost.compose.convert.volumes import VolumesMixin
from roost.compose.load import YMap, YSeq
from roost.compose.report import Report
from roost.errors import UsageError
from roost.spec.model import IMAGE_RE, NAME_RE, RESERVED_NAMES


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


def _qualify(image: str) -> str:
    """What docker means by a short name: docker.io/library/NAME or docker.io/ORG/NAME."""
    first = image.split("/")[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image}" if "/" in image else f"docker.io/library/{image}"


class Converter(NetworkMixin, VolumesMixin, EnvironmentMixin, LifecycleMixin):
    """One compose file -> a SpecDraft; each service through the mixins, then the whole-file passes."""

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
        self._updates(draft)
        return draft

    def _updates(self, draft: SpecDraft) -> None:
        """Compose pulls on `up`; roost moves only containers with auto_update, and a file rarely names one."""
        if not any(c.auto_update for c in draft.containers.values()):
            self.add("review", self.tree.at("services"), "services",
                     "no service updates itself: compose pulls on `up`; `roost update` and the nightly timer "
                     "only move containers with auto_update",
                     'add auto_update = "registry" to the app\'s own containers (not the database\'s: its '
                     "major versions move with `roost db upgrade`)")

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
