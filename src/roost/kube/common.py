"""What both targets share: one container of the spec as a Kubernetes container (probes, security
settings, environment, mounts), and the notes for what does not carry over.

Pure code: a loaded Spec (plus the env files beside it and, with --with-secrets, the secret values)
in, plain dicts out."""

from __future__ import annotations

import copy
import math
import posixpath
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from roost.findings import Finding, NoteKind
from roost.kube.model import Manifest, Target
from roost.kube.names import dns_label, labels, object_name, port_name, secret_env_var
from roost.spec.load import locate
from roost.spec.model import SECRET_REF_RE, Container, Health, Publish, Spec, Volume, parse_duration, parse_size

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
# what podman mounts as tmpfs in a container with a read-only root (ReadOnlyTmpfs=true, its default)
READ_ONLY_TMPFS = ("/tmp", "/var/tmp", "/run")


@dataclass
class Builder:
    """The state of one export: the spec, what it was given, the notes gathered on the way."""

    spec: Spec
    target: Target
    secrets: dict[str, str] | None = None  # secret name -> value (only with --with-secrets)
    env_files: dict[str, dict[str, str]] = field(default_factory=dict)  # container -> values of its env_file
    non_root: dict[str, int] = field(default_factory=dict)  # container -> the non-root UID its image runs as
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)  # spec key path -> line
    notes: list[Finding] = field(default_factory=list)

    # -- names ------------------------------------------------------------------------
    @property
    def app(self) -> str:
        return dns_label(self.spec.name)

    @property
    def secret_name(self) -> str:
        return object_name(self.spec.name, "secrets")

    def configmap_name(self, container: str) -> str:
        return object_name(self.spec.name, container, "env")

    def meta(self, name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "labels": labels(self.spec.name)}
        if annotations:
            out["annotations"] = annotations
        return out

    # -- notes ------------------------------------------------------------------------
    def note(self, where: tuple[str, ...], what: str, kind: NoteKind = "dropped") -> None:
        note = Finding(kind, ".".join(where), locate(self.lines, where), what)
        if note not in self.notes:
            self.notes.append(note)

    def seconds(self, value: str, where: tuple[str, ...], minimum: int = 1) -> int:
        """A duration as whole seconds (what probes take), rounded up; a note when that changes it."""
        exact = parse_duration(value)
        whole = max(minimum, math.ceil(exact))
        if whole != exact:
            self.note(where, f"{value} becomes {whole}s (probes count whole seconds, at least {minimum})", "approximated")
        return whole

    # -- health -----------------------------------------------------------------------
    def probe_handler(self, name: str, h: Health) -> dict[str, Any]:
        if h.cmd is not None:  # as podman runs a HealthCmd string: through a shell
            return {"exec": {"command": ["/bin/sh", "-c", h.cmd]}}
        assert h.http is not None
        url = urllib.parse.urlsplit(h.http)
        port = url.port or (443 if url.scheme == "https" else 80)
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        get: dict[str, Any] = {"path": path, "port": port, "scheme": url.scheme.upper()}
        host = url.hostname or "localhost"
        if self.target == "podman":
            # podman runs `curl -f SCHEME://HOST:PORT/PATH` inside the container (localhost unless host is set)
            if host != "localhost":
                get["host"] = host
        elif host not in LOOPBACK_HOSTS:
            self.note(("containers", name, "health", "http"),
                      f"the kubelet probes the pod's own address, not {host}", "approximated")
        return {"httpGet": get}

    def probes(self, name: str, c: Container) -> dict[str, Any]:
        """livenessProbe + startupProbe (+ readinessProbe on a cluster) from `health`, as roost's
        HealthCmd + HealthStartupCmd (every second, until app.health_timeout) + Notify=healthy."""
        h = c.health
        if h is None:
            return {}
        where = ("containers", name, "health")
        handler = self.probe_handler(name, h)
        period = self.seconds(h.interval, (*where, "interval"))
        timeout = self.seconds(h.timeout, (*where, "timeout"))
        start = self.seconds(h.start_period, (*where, "start_period"), minimum=0)
        regular: dict[str, Any] = {**copy.deepcopy(handler), "periodSeconds": period, "timeoutSeconds": timeout,
                                   "failureThreshold": h.retries}
        if start:
            regular["initialDelaySeconds"] = start  # podman reads it as the health check's start period
        startup_window = self.seconds(self.spec.app.health_timeout, ("app", "health_timeout")) + start
        out: dict[str, Any] = {
            "startupProbe": {**copy.deepcopy(handler), "periodSeconds": 1, "timeoutSeconds": timeout,
                             "failureThreshold": startup_window, "successThreshold": 1},
            "livenessProbe": regular,
        }
        if self.target == "kubernetes":  # ready = healthy, as Notify=healthy makes it for roost
            out["readinessProbe"] = {**copy.deepcopy(handler), "periodSeconds": period, "timeoutSeconds": timeout,
                                     "failureThreshold": h.retries}
        return out

    # -- security -------------------------------------------------------------------------
    def security_context(self, name: str, c: Container) -> dict[str, Any]:
        sc: dict[str, Any] = {}
        caps = c.capabilities
        if c.no_new_privileges:
            if self.target == "kubernetes" and caps is not None and "SYS_ADMIN" in caps:
                self.note(("containers", name, "no_new_privileges"),
                          "a cluster refuses allowPrivilegeEscalation: false together with SYS_ADMIN: left unset")
            else:
                sc["allowPrivilegeEscalation"] = False
        if caps is not None:
            sc["capabilities"] = {"drop": ["ALL"], "add": list(caps)}
        elif self.target == "kubernetes":
            self.note(("containers", name, "cap_add"),
                      'cap_add = ["ALL"] keeps the container runtime\'s default set (CRI-O and containerd differ '
                      "slightly from podman's)", "approximated")
        if c.read_only:
            sc["readOnlyRootFilesystem"] = True
        uid = self.non_root.get(name)
        if uid is not None:
            sc["runAsNonRoot"] = True
            sc["runAsUser"] = uid
        elif c.user is not None:
            user, _, group = c.user.partition(":")
            if user.isdigit() and (not group or group.isdigit()):
                sc["runAsUser"] = int(user)
                if group:
                    sc["runAsGroup"] = int(group)
            else:
                self.note(("containers", name, "user"), f"user {c.user!r} is a name: a pod takes numbers only "
                          "(runAsUser); the image's user applies unless you write its number")
        return sc

    # -- environment --------------------------------------------------------------------
    def split_env(self, name: str, c: Container) -> tuple[dict[str, str], dict[str, str]]:
        """(plain values, as roost's env file has them; values that mention a secret)."""
        plain = dict(self.env_files.get(name, {}))
        with_secret: dict[str, str] = {}
        for var, value in c.env.items():
            if SECRET_REF_RE.search(value):
                plain.pop(var, None)
                with_secret[var] = value
            else:
                plain[var] = value
        return plain, with_secret

    def resolve(self, template: str) -> str | None:
        if self.secrets is None:
            return None
        return SECRET_REF_RE.sub(lambda m: self.secrets[m.group(1)], template)  # type: ignore[index]

    def env(self, name: str, c: Container, secret_data: dict[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(envFrom, env) of a container. Plain values come from its ConfigMap. Values that mention a
        secret: on podman, each whole value is a key of the Secret (podman does not expand $(VAR));
        on a cluster, the Secret holds the generated secrets and the value is put together with $(VAR)."""
        plain, with_secret = self.split_env(name, c)
        env_from = [{"configMapRef": {"name": self.configmap_name(name)}}] if plain else []
        env: list[dict[str, Any]] = []
        if self.target == "podman":
            for var in sorted(with_secret):
                key = f"{name}.{var}"
                secret_data[key] = self.resolve(with_secret[var]) or with_secret[var]
                env.append({"name": var, "valueFrom": {"secretKeyRef": {"name": self.secret_name, "key": key}}})
            return env_from, env
        helpers: list[str] = []
        values: list[dict[str, Any]] = []
        for var in sorted(with_secret):
            template = with_secret[var]
            whole = SECRET_REF_RE.fullmatch(template)
            if whole:
                values.append({"name": var, "valueFrom": {"secretKeyRef": {"name": self.secret_name,
                                                                           "key": whole.group(1)}}})
                continue
            parts = []
            last = 0
            for m in SECRET_REF_RE.finditer(template):
                parts.append(template[last:m.start()].replace("$", "$$"))  # a cluster reads $$ as one $
                parts.append(f"$({secret_env_var(m.group(1))})")
                if m.group(1) not in helpers:
                    helpers.append(m.group(1))
                last = m.end()
            parts.append(template[last:].replace("$", "$$"))
            values.append({"name": var, "value": "".join(parts)})
        for secret in helpers:  # defined before the values that refer to them, as $(VAR) needs
            env.append({"name": secret_env_var(secret),
                        "valueFrom": {"secretKeyRef": {"name": self.secret_name, "key": secret}}})
        return env_from, env + values

    def configmaps(self) -> list[Manifest]:
        out = []
        for name, c in sorted(self.spec.containers.items()):
            plain, _ = self.split_env(name, c)
            if plain:
                out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": self.meta(self.configmap_name(name)),
                            "data": {k: plain[k] for k in sorted(plain)}})
        return out

    # -- volumes ------------------------------------------------------------------------
    def volume_names(self) -> dict[str, str]:
        """host path -> the pod volume's name (a label, unique), for every volume of the spec."""
        out: dict[str, str] = {}
        for name in self.spec.start_order():
            for vol in self.spec.containers[name].mounts:
                path = self.spec.host_path(vol.source)
                if path in out:
                    continue
                rel = posixpath.relpath(path, self.spec.home) if self.in_home(path) else path.strip("/")
                base = dns_label(rel.replace("/", "-"), 50)
                candidate, n = base, 2
                while candidate in out.values():
                    candidate, n = f"{base}-{n}", n + 1
                out[path] = candidate
        return out

    def in_home(self, path: str) -> bool:
        return path.startswith(self.spec.home + "/")

    def mount_notes(self, name: str, vol: Volume) -> None:
        where = ("containers", name, "volumes")
        for opt in vol.options:
            if opt in ("ro", "rw"):
                continue
            if opt in ("z", "Z") and self.target == "kubernetes":
                self.note(where, f"{vol.source}: SELinux relabelling (:{opt}) is left to the cluster's container runtime",
                          "approximated")
            elif opt == "U":
                self.note(where, f"{vol.source}: :U (chown to the container's user) has no equivalent; "
                                 "set securityContext.fsGroup or prepare the data's owner")
            elif opt not in ("z", "Z"):
                self.note(where, f"{vol.source}: mount option {opt} has no equivalent")

    def mount(self, vol: Volume, volume: str) -> dict[str, Any]:
        m: dict[str, Any] = {"name": volume, "mountPath": vol.target}
        if "ro" in vol.options:
            m["readOnly"] = True
        return m

    # -- ports --------------------------------------------------------------------------
    def port_owner(self) -> dict[tuple[int, str], str]:
        """(container port, protocol) -> the container that declares it: the one whose HTTP health
        check uses it, else the first container no other one requires (the app, not its database)."""
        required = self.spec.required()
        order = self.spec.start_order()
        default = next((n for n in order if n not in required), order[0])
        out: dict[tuple[int, str], str] = {}
        for p in self.spec.pod.ports:
            owner = default
            for name in order:
                h = self.spec.containers[name].health
                if h is not None and h.http is not None:
                    url = urllib.parse.urlsplit(h.http)
                    if (url.port or (443 if url.scheme == "https" else 80)) == p.container_port and p.proto == "tcp":
                        owner = name
                        break
            out.setdefault((p.container_port, p.proto), owner)
        return out

    def container_ports(self, name: str) -> list[dict[str, Any]]:
        owners = self.port_owner()
        out: list[dict[str, Any]] = []
        seen: set[tuple[int, str]] = set()
        # with [network] a container publishes its own ports: here they are its ports in the one Pod
        pairs = [*((p, owners[(p.container_port, p.proto)]) for p in self.spec.pod.ports),
                 *((p, name) for p in self.spec.containers[name].ports)]
        for p, owner in pairs:
            key = (p.container_port, p.proto)
            if owner != name:
                continue
            entry: dict[str, Any] = {"containerPort": p.container_port, "protocol": p.proto.upper()}
            if self.target == "podman":  # each published port, as PublishPort= does
                entry.update(hostPort=p.host_port, hostIP=host_ip(p))
            elif key in seen:
                continue
            seen.add(key)
            if key not in {(e["containerPort"], e["protocol"].lower()) for e in out}:
                entry["name"] = port_name(p.proto, p.container_port)
            out.append(entry)
        return out

    def pod_extras(self) -> dict[str, Any]:
        """Pod-level settings shared by both targets: pod.hosts names 127.0.0.1 inside the pod."""
        if self.spec.network is not None:
            self.note(("network",), "the app's network becomes the one Pod's: every container shares its localhost, "
                                    "so two that listen on one port clash, and names resolve only through a Service",
                      "approximated")
            if self.spec.network.internal:
                self.note(("network", "internal"), "a pod's network has a route out: give the namespace a "
                                                   "NetworkPolicy that denies egress")
        if not self.spec.pod.hosts:
            return {}
        return {"hostAliases": [{"ip": "127.0.0.1", "hostnames": list(self.spec.pod.hosts)}]}

    # -- the container ------------------------------------------------------------------
    def container(self, name: str, c: Container, volumes: dict[str, str], secret_data: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {"name": dns_label(name), "image": c.image}
        if c.entrypoint:  # Kubernetes' command replaces the image's entrypoint, as Quadlet's Entrypoint= does
            out["command"] = [a.replace("$", "$$") if self.target == "kubernetes" else a for a in c.entrypoint]
        elif c.entrypoint == ():
            self.note(("containers", name, "entrypoint"), "an empty entrypoint (clear the image's) has no equivalent: "
                      "Kubernetes runs the image's entrypoint when `command` is empty", "approximated")
        if c.command:
            # the image's entrypoint stays, as Exec= does; a cluster expands $(VAR) in args: $$ keeps a $
            out["args"] = [a.replace("$", "$$") if self.target == "kubernetes" else a for a in c.command]
        env_from, env = self.env(name, c, secret_data)
        if env_from:
            out["envFrom"] = env_from
        if env:
            out["env"] = env
        if ports := self.container_ports(name):
            out["ports"] = ports
        out.update(self.probes(name, c))
        mounts = []
        for vol in c.mounts:
            path = self.spec.host_path(vol.source)
            self.mount_notes(name, vol)
            if self.target == "kubernetes" and not self.in_home(path):
                self.note(("containers", name, "volumes"),
                          f"{path} is a host path outside the app's home: a cluster has no such path; "
                          "the mount is left out (make it a PersistentVolumeClaim if the app needs it)")
                continue
            mounts.append(self.mount(vol, volumes[path]))
        if c.read_only and self.target == "kubernetes":
            taken = {m["mountPath"] for m in mounts} | set(tmpfs_paths(c))
            for path in READ_ONLY_TMPFS:
                if path not in taken:
                    mounts.append({"name": tmpfs_volume(name, path), "mountPath": path})
        taken = {m["mountPath"] for m in mounts}
        mounts += [{"name": tmpfs_volume(name, path), "mountPath": path} for path in tmpfs_paths(c) if path not in taken]
        if mounts:
            out["volumeMounts"] = mounts
        if resources := self.resources(name, c):
            out["resources"] = resources
        out["securityContext"] = self.security_context(name, c)
        if c.restart != "always":
            self.note(("containers", name, "restart"),
                      f'restart = "{c.restart}": a pod has one restart policy for all its containers (Always here); '
                      "run a one-shot task as a Job", "approximated")
        return out

    def resources(self, name: str, c: Container) -> dict[str, Any]:
        """limits.memory and limits.cpus as resources.limits (the same ceilings, enforced by the kubelet)."""
        limits: dict[str, str] = {}
        if c.limits.memory is not None:
            limits["memory"] = str(parse_size(c.limits.memory))
        if c.limits.cpus is not None:
            limits["cpu"] = f"{round(c.limits.cpus * 1000)}m"
        if c.limits.pids is not None:
            self.note(("containers", name, "limits", "pids"),
                      "a pod cannot set its own process limit: the node's podPidsLimit (kubelet) applies")
        return {"limits": limits} if limits else {}

    # -- what neither target has ----------------------------------------------------------
    def host_only_notes(self) -> None:
        if self.spec.app.limits.service_entries:
            self.note(("app", "limits"), "the app's ceiling is its user's slice on the host; on a cluster give the "
                      "namespace a ResourceQuota (limits.memory, limits.cpu) instead")
        if self.spec.backup.schedule:
            self.note(("backup", "schedule"), f"the backup timer ({self.spec.backup.schedule}) runs on the host only; "
                      "on a cluster use a CronJob with pg_dump or a volume snapshot tool (see docs/kubernetes.md)")
        for name in self.spec.start_order():
            c = self.spec.containers[name]
            if c.auto_update and self.target == "kubernetes":
                self.note(("containers", name, "auto_update"),
                          "a cluster has no nightly auto-update: pin image digests and roll out new ones "
                          "(kubectl rollout restart, or an update bot)")
            elif c.auto_update:
                self.note(("containers", name, "auto_update"),
                          "io.containers.autoupdate is set, but podman auto-update updates only pods run by systemd "
                          "(podman-kube@.service); roost's backup before the update is not included", "approximated")
        self.web_notes()
        if self.spec.notify is not None:
            self.note(("notify", "urls_file"), "roost's notifications (rolled-back updates, failed backups, restart loops) "
                      "come from its units on the host; on a cluster use its alerting (e.g. Alertmanager)")


    def web_notes(self) -> None:
        """The front door's settings an export does not carry: Caddy's on the host; a cluster's Ingress
        has its own controller (only domains, port and TLS reach the Ingress)."""
        web = self.spec.web
        if web is None:
            return
        if self.target == "podman":
            self.note(("web",), "the front door (Caddy, HTTPS at the domains) stays on the host; the pod publishes "
                      "its ports as roost does")
            return
        if web.email:
            self.note(("web", "email"), "the ACME account e-mail belongs to the cluster's certificate issuer "
                      "(e.g. cert-manager's), not to the Ingress")
        if web.hsts and web.tls != "off":
            self.note(("web", "hsts"), "Strict-Transport-Security is the ingress controller's to send "
                      "(e.g. ingress-nginx's hsts setting)")
        if web.headers:
            self.note(("web", "headers"), "response headers are set with the ingress controller's annotations")
        if web.max_body:
            self.note(("web", "max_body"), f"the request body limit ({web.max_body}) is set with the ingress "
                      "controller's annotations (e.g. nginx.ingress.kubernetes.io/proxy-body-size)")


def host_ip(p: Publish) -> str:
    return p.ip[1:-1] if p.ip.startswith("[") else p.ip


def tmpfs_paths(c: Container) -> list[str]:
    """The container paths of `tmpfs` (options such as size= are the mount's, not the path's)."""
    return [t.split(":", 1)[0] for t in c.tmpfs]


def tmpfs_volumes(spec: Spec) -> list[dict[str, Any]]:
    """An in-memory emptyDir for each `tmpfs` path (a tmpfs, as podman mounts it)."""
    return [{"name": tmpfs_volume(name, p), "emptyDir": {"medium": "Memory"}}
            for name in spec.start_order() for p in tmpfs_paths(spec.containers[name])]


def tmpfs_volume(container: str, path: str) -> str:
    return dns_label(f"{container}-{path.strip('/').replace('/', '-')}")
