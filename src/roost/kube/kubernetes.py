"""--target kubernetes: a bundle a cluster accepts. One replica (roost runs one pod): a StatefulSet
when the app keeps PostgreSQL data (at most one pod at a time, even when a node is lost), else a
Deployment with the Recreate strategy; a Service per published port, a PersistentVolumeClaim per
volume in the home, ConfigMaps, the Secret, and an Ingress when the spec has domains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roost.kube.common import READ_ONLY_TMPFS, Builder, host_ip, tmpfs_paths, tmpfs_volume, tmpfs_volumes
from roost.kube.model import Bundle, Document, Manifest
from roost.kube.names import object_name, port_name, selector

PVC_SIZE = "1Gi"


@dataclass(frozen=True)
class WebFront:
    """What an Ingress needs from the spec's front door: the names, the published port they reach, TLS."""

    domains: tuple[str, ...]
    host_port: int | None = None  # None: the first published TCP port
    tls: bool = True


def web_front(spec: Any) -> WebFront | None:
    """The adapter to the spec's `[web]` section (the front door); None while a spec has none."""
    web = getattr(spec, "web", None)
    if web is None:
        return None
    return WebFront(tuple(web.domains), getattr(web, "port", None), getattr(web, "tls", "acme") != "off")


def build_kubernetes(b: Builder, web: WebFront | None = None) -> Bundle:
    spec = b.spec
    volumes = b.volume_names()
    secret_data: dict[str, str] = {}
    order = spec.start_order()
    required = spec.required()
    built = {name: b.container(name, spec.containers[name], volumes, secret_data) for name in order}
    # a container others require starts first and, when it has a startup probe, is ready before the
    # rest start: a native sidecar (init container that keeps running), as Requires= + Notify=healthy
    init = [dict(built[n], restartPolicy="Always") for n in order if n in required]
    main = [built[n] for n in order if n not in required]
    if init:
        dependant = next(n for n in order if spec.containers[n].requires)
        b.note(("containers", dependant, "requires"), "`requires` becomes start order: required containers are native sidecars "
                                "(Kubernetes >= 1.29) that start, and pass their startup probe, before the others",
               "approximated")
    pod_volumes: list[dict[str, Any]] = []
    pvcs: list[Manifest] = []
    for path, name in volumes.items():
        if not b.in_home(path):
            continue
        claim = object_name(spec.name, name)
        pod_volumes.append({"name": name, "persistentVolumeClaim": {"claimName": claim}})
        pvcs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": b.meta(claim),
                     "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": PVC_SIZE}}}})
    if pvcs:
        first = next(n for n in order if spec.containers[n].mounts)
        b.note(("containers", first, "volumes"), f"each PersistentVolumeClaim asks for {PVC_SIZE} of the default storage class: "
                                "set the size your data needs", "approximated")
    for name in order:
        if spec.containers[name].read_only:
            taken = {v.target for v in spec.containers[name].mounts} | set(tmpfs_paths(spec.containers[name]))
            pod_volumes += [{"name": tmpfs_volume(name, p), "emptyDir": {"medium": "Memory"}}
                            for p in READ_ONLY_TMPFS if p not in taken]
    pod_volumes += tmpfs_volumes(spec)
    pod_spec: dict[str, Any] = {
        "enableServiceLinks": False,  # no FOO_SERVICE_HOST variables: the containers see the env roost gives them
        "automountServiceAccountToken": False,  # the app has no business with the cluster's API
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},  # podman's default seccomp filter
        **b.pod_extras(),
    }
    if init:
        pod_spec["initContainers"] = init
    pod_spec["containers"] = main
    if pod_volumes:
        pod_spec["volumes"] = pod_volumes
    services = build_services(b)
    stateful = any(spec.containers[n].is_postgres and spec.containers[n].mounts for n in order)
    template = {"metadata": {"labels": b.meta(b.app)["labels"]}, "spec": pod_spec}
    workload_spec: dict[str, Any] = {"replicas": 1, "selector": {"matchLabels": selector(spec.name)}}
    docs: list[Document] = []
    if stateful:
        governing = services[0]["metadata"]["name"] if services else b.app
        if not services:
            services.append({"apiVersion": "v1", "kind": "Service", "metadata": b.meta(b.app),
                             "spec": {"clusterIP": "None", "selector": selector(spec.name)}})
        workload_spec.update(serviceName=governing, template=template)
        workload: Manifest = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": b.meta(b.app),
                              "spec": workload_spec}
        why = "StatefulSet: the app keeps PostgreSQL data, and a StatefulSet never runs two pods of it at once."
    else:
        workload_spec.update(strategy={"type": "Recreate"}, template=template)
        workload = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": b.meta(b.app), "spec": workload_spec}
        why = "Deployment, one replica, Recreate: the old pod stops before the new one starts, as roost restarts."
    b.host_only_notes()
    if secret_data or spec.secrets:
        docs.append(secret_document(b))
    docs += [Document(m) for m in b.configmaps()]
    docs += [Document(m) for m in pvcs]
    docs += [Document(m) for m in services]
    docs.append(Document(workload, [why]))
    if web is not None:
        ingress = build_ingress(b, web, services)
        if ingress is not None:
            docs.append(Document(ingress, ["The front door: the cluster's ingress controller takes the place of roost's Caddy."]))
    return Bundle(spec.name, "kubernetes", docs, b.notes, with_secrets=b.secrets is not None)


def service_name(b: Builder, port: int, proto: str, many: bool) -> str:
    return object_name(b.spec.name, str(port), *(["udp"] if proto == "udp" else [])) if many else b.app


def build_services(b: Builder) -> list[Manifest]:
    """One ClusterIP Service per published container port, reaching it by the container port's name."""
    ports: list[tuple[int, str]] = []
    for p in b.spec.pod.ports:
        if (p.container_port, p.proto) not in ports:
            ports.append((p.container_port, p.proto))
        if host_ip(p) not in ("127.0.0.1", "::1"):
            b.note(("pod", "publish"), f"{p} listens on every address of the host: the Service is ClusterIP; "
                                       "expose it with the Ingress, a LoadBalancer or a NodePort", "approximated")
    out = []
    for port, proto in ports:
        name = service_name(b, port, proto, len(ports) > 1)
        hosts = [str(p) for p in b.spec.pod.ports if (p.container_port, p.proto) == (port, proto)]
        out.append({
            "apiVersion": "v1", "kind": "Service",
            "metadata": b.meta(name, {"roost.io/published-on-host": ", ".join(hosts)}),
            "spec": {"type": "ClusterIP", "selector": selector(b.spec.name),
                     "ports": [{"name": port_name(proto, port), "port": port, "targetPort": port_name(proto, port),
                                "protocol": proto.upper()}]},
        })
    return out


def build_ingress(b: Builder, web: WebFront, services: list[Manifest]) -> Manifest | None:
    """An Ingress for the front door's domains, to the Service of its published port."""
    tcp = [p for p in b.spec.pod.ports if p.proto == "tcp"]
    target = next((p for p in tcp if web.host_port in (None, p.host_port)), None)
    if target is None:
        b.note(("web",), "no published TCP port for the domains: no Ingress")
        return None
    many = len({(p.container_port, p.proto) for p in b.spec.pod.ports}) > 1
    backend = {"service": {"name": service_name(b, target.container_port, "tcp", many),
                           "port": {"name": port_name("tcp", target.container_port)}}}
    spec: dict[str, Any] = {"rules": [{"host": d, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                                                                       "backend": backend}]}}
                                      for d in web.domains]}
    if web.tls:
        spec["tls"] = [{"hosts": list(web.domains), "secretName": object_name(b.spec.name, "tls")}]
        b.note(("web",), f"TLS: the certificate is expected in Secret {object_name(b.spec.name, 'tls')} "
                         "(cert-manager or your own); roost's Caddy got it by ACME itself", "approximated")
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": b.meta(b.app), "spec": spec}


def secret_document(b: Builder) -> Document:
    """The generated secrets, by name. With --with-secrets their values; else a comment saying how to
    create the Secret from the host's files without the values ever being printed."""
    name = b.secret_name
    if b.secrets is not None:
        manifest: Manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": b.meta(name), "type": "Opaque",
                              "stringData": {k: b.secrets[k] for k in sorted(b.spec.secrets)}}
        return Document(manifest, ["Holds the app's secret values (exported with --with-secrets): keep this file private."])
    home = f"{b.spec.home}/.config/roost/secrets"
    user = b.spec.name
    literals = " ".join(f'--from-literal={s}="$(runuser -u {user} -- cat {home}/{s})"' for s in sorted(b.spec.secrets))
    return Document(None, [
        f"Secret {name} is not included: its values stay on the host. Create it before the workload,",
        "on the host that runs the app (as root; the values go straight to the cluster, never to the screen):",
        f"  kubectl create secret generic {name} {literals}",
        "or export with `roost export kube --with-secrets SPEC` (as root) to have it written here.",
    ])
