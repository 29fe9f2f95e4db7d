"""--target podman: one Pod (all containers in one network namespace, as roost runs them) that
`podman kube play` runs as the app user, with ConfigMaps for plain env and a Secret for the values
that mention secrets."""

from __future__ import annotations

from typing import Any

from roost.kube.common import Builder, tmpfs_volumes
from roost.kube.model import Bundle, Document, Manifest

AUTOUPDATE = "io.containers.autoupdate"
SDNOTIFY = "io.containers.sdnotify"
BIND_OPTIONS = "bind-mount-options"  # podman: SELinux option of one bind mount per pod


def build_podman(b: Builder) -> Bundle:
    spec = b.spec
    volumes = b.volume_names()
    secret_data: dict[str, str] = {}
    order = spec.start_order()
    containers = [b.container(name, spec.containers[name], volumes, secret_data) for name in order]
    annotations: dict[str, str] = {}
    for name in order:
        c = spec.containers[name]
        if c.auto_update:
            annotations[f"{AUTOUPDATE}/{name}"] = c.auto_update
        # Ready once healthy, as Notify=healthy: `kube play` (and its systemd unit) waits for it. Not for a container
        # that requires another: kube play starts the pod's containers one at a time in no fixed order and waits on
        # each, so gating one whose health needs a sibling not yet started waits forever (seen on the lab).
        if c.health and not c.requires:
            annotations[f"{SDNOTIFY}/{name}"] = "healthy"
    relabel = [(n, spec.host_path(v.source), o) for n in order for v in spec.containers[n].mounts
               for o in v.options if o in ("z", "Z")]
    if relabel:
        _, path, opt = relabel[0]
        annotations[BIND_OPTIONS] = f"{path}:{opt}"
        for name, other, _ in relabel[1:]:
            if other != path:
                b.note(("containers", name, "volumes"),
                       f"{other}: podman kube play relabels (SELinux) one bind mount per pod; on an SELinux host "
                       "relabel the others once (chcon -R -t container_file_t)", "approximated")
    pod_volumes: list[dict[str, Any]] = []
    for path, name in volumes.items():
        host: dict[str, Any] = {"path": path}
        if b.in_home(path):  # roost creates these in the home; podman creates them (0755, the user's) the same way
            host["type"] = "DirectoryOrCreate"
        pod_volumes.append({"name": name, "hostPath": host})
    pod_volumes += tmpfs_volumes(spec)
    if dependant := next((n for n in order if spec.containers[n].requires), None):
        b.note(("containers", dependant, "requires"),
               "`requires` does not order the containers: podman kube play starts them one at a time in no fixed "
               "order, and a container that requires another is not held back until healthy", "approximated")
    pod_spec: dict[str, Any] = {"restartPolicy": "Always", **b.pod_extras(), "containers": containers}
    if pod_volumes:
        pod_spec["volumes"] = pod_volumes
    pod: Manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": b.meta(b.app, annotations or None), "spec": pod_spec}
    b.host_only_notes()
    docs = [Document(m) for m in b.configmaps()]
    if secret_data:
        docs.append(secret_document(b, secret_data))
    docs.append(Document(pod, [
        f"podman kube play --network pasta {b.app}.podman.yaml   # as the app's user; `podman kube down` removes it",
        "(--network pasta: rootless default network without a bridge; needed where /proc/sys is read-only)",
    ]))
    return Bundle(spec.name, "podman", docs, b.notes, with_secrets=b.secrets is not None)


def secret_document(b: Builder, data: dict[str, str]) -> Document:
    manifest: Manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": b.meta(b.secret_name), "type": "Opaque",
                          "stringData": {k: data[k] for k in sorted(data)}}
    if b.secrets is not None:
        return Document(manifest, ["Holds the app's secret values (exported with --with-secrets): keep this file private."])
    home = f"{b.spec.home}/.config/roost/secrets"
    lines = [
        f"Secret {b.secret_name} is not included: its values stay on the host.",
        "`roost export kube --with-secrets SPEC` (as root, on the host that runs the app) writes it here, or",
        f"play this one first with each ${{secrets.NAME}} replaced by the value in {home}/NAME:",
        "",
        *dump_commented(manifest),
    ]
    return Document(None, lines)


def dump_commented(manifest: Manifest) -> list[str]:
    from roost.kube.write import dump_manifest

    return dump_manifest(manifest).rstrip("\n").split("\n")
