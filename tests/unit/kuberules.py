"""What a cluster's API server checks beyond the OpenAPI schemas (which kubernetes-validate covers):
names, label syntax, references between objects. A manifest that breaks one is refused by a cluster,
so an export that breaks one fails the tests.

Rules from Kubernetes' validation (apimachinery's IsDNS1123Label/Subdomain, IsDNS1035Label,
IsValidPortName, IsQualifiedName, IsConfigMapKey; core/v1 validation of probes and sidecars)."""

from __future__ import annotations

import re
from typing import Any

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+\Z")
PORT_NAME = re.compile(r"^[-a-z0-9]+\Z")


def label(value: str) -> bool:
    return len(value) <= 63 and bool(DNS1123_LABEL.match(value))


def subdomain(value: str) -> bool:
    return len(value) <= 253 and bool(DNS1123_SUBDOMAIN.match(value))


def qualified_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return (not prefix or subdomain(prefix)) and len(name) <= 63 and bool(QUALIFIED_NAME.match(name))


def port_name(name: str) -> bool:
    return (len(name) <= 15 and bool(PORT_NAME.match(name)) and "--" not in name
            and not name.startswith("-") and not name.endswith("-") and any(c.isalpha() for c in name))


def problems(manifests: list[dict[str, Any]]) -> list[str]:
    """Everything a cluster would refuse, as readable lines (empty: all good)."""
    out: list[str] = []
    names = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    for m in manifests:
        kind, meta = m["kind"], m["metadata"]
        where = f"{kind}/{meta['name']}"
        if kind in ("Service", "Namespace"):
            if not (len(meta["name"]) <= 63 and DNS1035_LABEL.match(meta["name"])):
                out.append(f"{where}: a Service name must be an RFC 1035 label")
        elif not subdomain(meta["name"]):
            out.append(f"{where}: name is not an RFC 1123 subdomain")
        for key, value in {**meta.get("labels", {}), **_template_labels(m)}.items():
            if not qualified_key(key) or not (len(value) <= 63 and LABEL_VALUE.match(value)):
                out.append(f"{where}: bad label {key}={value}")
        for key in meta.get("annotations", {}):
            if not qualified_key(key):
                out.append(f"{where}: bad annotation key {key}")
        for key in {**m.get("data", {}), **m.get("stringData", {})}:
            if len(key) > 253 or not CONFIG_KEY.match(key):
                out.append(f"{where}: bad data key {key!r}")
        pod = _pod_spec(m)
        if pod is not None:
            out += [f"{where}: {p}" for p in pod_problems(pod, names)]
        if kind in ("Deployment", "StatefulSet"):
            sel = m["spec"]["selector"]["matchLabels"]
            tmpl = m["spec"]["template"]["metadata"]["labels"]
            if any(tmpl.get(k) != v for k, v in sel.items()):
                out.append(f"{where}: selector does not match the template's labels")
        if kind == "Service":
            for p in m["spec"].get("ports", []):
                if "name" in p and not port_name(p["name"]):
                    out.append(f"{where}: bad port name {p['name']}")
        if kind == "Ingress":
            for rule in m["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    svc = path["backend"]["service"]["name"]
                    if ("Service", svc) not in names:
                        out.append(f"{where}: backend Service {svc} is not in the bundle")
    return out


def _pod_spec(m: dict[str, Any]) -> dict[str, Any] | None:
    if m["kind"] == "Pod":
        return m["spec"]
    if m["kind"] in ("Deployment", "StatefulSet"):
        return m["spec"]["template"]["spec"]
    return None


def _template_labels(m: dict[str, Any]) -> dict[str, str]:
    if m["kind"] in ("Deployment", "StatefulSet"):
        return m["spec"]["template"]["metadata"].get("labels", {})
    return {}


def pod_problems(pod: dict[str, Any], names: set[tuple[str, str]]) -> list[str]:
    out: list[str] = []
    volumes = [v["name"] for v in pod.get("volumes", [])]
    if len(set(volumes)) != len(volumes):
        out.append(f"volume names repeat: {volumes}")
    out += [f"bad volume name {v}" for v in volumes if not label(v)]
    for v in pod.get("volumes", []):
        if "hostPath" in v and not v["hostPath"]["path"].startswith("/"):
            out.append(f"hostPath {v['hostPath']['path']} is not absolute")
        if "persistentVolumeClaim" in v and ("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"]) not in names:
            out.append(f"claim {v['persistentVolumeClaim']['claimName']} is not in the bundle")
    init = pod.get("initContainers", [])
    containers = init + pod["containers"]
    cnames = [c["name"] for c in containers]
    if len(set(cnames)) != len(cnames):
        out.append(f"container names repeat: {cnames}")
    for c in containers:
        sidecar = c in init and c.get("restartPolicy") == "Always"
        out += [f"{c['name']}: {p}" for p in container_problems(c, set(volumes), names, init=c in init, sidecar=sidecar)]
    port_names = [p["name"] for c in containers for p in c.get("ports", []) if "name" in p]
    if len(set(port_names)) != len(port_names):
        out.append(f"port names repeat in the pod: {port_names}")
    return out


def container_problems(c: dict[str, Any], volumes: set[str], names: set[tuple[str, str]], *, init: bool,
                       sidecar: bool) -> list[str]:
    out: list[str] = []
    if not label(c["name"]):
        out.append("name is not an RFC 1123 label")
    seen_ports: set[tuple[int, str, int | None]] = set()
    for p in c.get("ports", []):
        if "name" in p and not port_name(p["name"]):
            out.append(f"bad port name {p['name']}")
        key = (p["containerPort"], p.get("protocol", "TCP"), p.get("hostPort"))
        if key in seen_ports:
            out.append(f"port {key} declared twice")
        seen_ports.add(key)
    mounts = [v["mountPath"] for v in c.get("volumeMounts", [])]
    if len(set(mounts)) != len(mounts):
        out.append(f"mount paths repeat: {mounts}")
    for v in c.get("volumeMounts", []):
        if v["name"] not in volumes:
            out.append(f"mount of unknown volume {v['name']}")
        if not v["mountPath"].startswith("/") or ":" in v["mountPath"]:
            out.append(f"bad mountPath {v['mountPath']}")
    for e in c.get("env", []):
        if not e["name"] or "=" in e["name"]:
            out.append(f"bad env name {e['name']!r}")
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref and not CONFIG_KEY.match(ref["key"]):
            out.append(f"bad secret key {ref['key']}")
    for src in c.get("envFrom", []):
        if "configMapRef" in src and ("ConfigMap", src["configMapRef"]["name"]) not in names:
            out.append(f"ConfigMap {src['configMapRef']['name']} is not in the bundle")
    for probe in ("livenessProbe", "startupProbe"):
        if c.get(probe, {}).get("successThreshold", 1) != 1:
            out.append(f"{probe}.successThreshold must be 1")
    if init and not sidecar and any(p in c for p in ("livenessProbe", "readinessProbe", "startupProbe")):
        out.append("an init container that is not a sidecar may not have probes")
    if not init and "restartPolicy" in c:
        out.append("restartPolicy is for init containers only")
    sc = c.get("securityContext", {})
    if sc.get("allowPrivilegeEscalation") is False and (
            sc.get("privileged") or "SYS_ADMIN" in sc.get("capabilities", {}).get("add", [])):
        out.append("allowPrivilegeEscalation false with privileged or SYS_ADMIN")
    return out
