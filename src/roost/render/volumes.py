"""Volumes that behave as compose's named volumes: on first use (an empty directory) the image's own
content and ownership at the mount point are copied in, so an image that runs as a non-root USER
(Node-RED's uid 1000, ...) can write its data directory, as under docker and in podman's named volumes.

roost keeps volumes as directories in the app's home (backups, restores and `db upgrade` work on them),
which podman mounts as binds: binds are never copied up. So each container's unit seeds its own
volumes before it starts, as the app's user, inside its user namespace (`podman unshare`, where the
container's uids are real): nothing in the image runs, and the image needs no tools."""

from __future__ import annotations

from roost.spec.model import Container, Spec

# $1 image, $2 path in the image, $3 the volume's directory. Runs only while the directory is empty
# (checked inside the namespace: a data directory chowned to the container's postgres is unreadable
# outside). The unit file serializer writes `$` as `$$` (systemd would expand `$1` itself).
SEED_SCRIPT = (
    'test -z "$(ls -A "$3")" || exit 0; m=$(podman image mount "$1") || exit 1; s="$m$2"; r=0; '
    'if test -d "$s"; then cp -a "$s/." "$3/" && chown --reference="$s" "$3" && chmod --reference="$s" "$3" || r=1; fi; '
    'podman image unmount "$1" >/dev/null; exit $r'
)


def seed_commands(spec: Spec, c: Container) -> list[tuple[str, tuple[str, ...]]]:
    """ExecStartPre= lines for the container's volumes under the app's home (not host paths)."""
    return [("ExecStartPre", ("/usr/bin/podman", "unshare", "/bin/sh", "-c", SEED_SCRIPT, "roost-seed", c.image,
                              vol.target, spec.host_path(vol.source)))
            for vol in c.mounts if not vol.source.startswith("/")]  # fmt: skip
