"""roost export kube: the same spec as Kubernetes manifests, for `podman kube play` or a cluster.

names (RFC 1123 names, labels) -> common (one container: probes, security, env, mounts) ->
podman / kubernetes (the objects of each target) -> write (YAML with comments). Pure code; only
--with-secrets reads the host (secrets.py), as the app's user."""
