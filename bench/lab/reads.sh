#!/bin/bash
# The host reads roost needs, typed as one bash script: the floor any converge/status tool pays.
#   reads.sh facts NAME:UID...   what `roost plan/apply` reads per app (users, ids, linger, ports, units, secrets, images)
#   reads.sh status NAME:UID...  what `roost status` reads per app (units, containers, images)
#   reads.sh podman NAME:UID...  only `podman container inspect` per app, 8 apps at a time: the floor of
#                                any status that asks each app's rootless podman about its containers
set -u
MODE=$1; shift
as() { runuser -u "$1" -- env -i XDG_RUNTIME_DIR=/run/user/$2 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$2/bus "${@:3}"; }
if [ "$MODE" = podman ]; then
  export -f as
  printf '%s\n' "$@" | xargs -P8 -I{} bash -c 'p={}; as "${p%%:*}" "${p##*:}" podman container inspect --latest >/dev/null'
  exit 0
fi
for pair in "$@"; do
  name=${pair%%:*} uid=${pair##*:}
  if [ "$MODE" = facts ]; then
    cat /etc/passwd /etc/group /etc/subuid /etc/subgid >/dev/null
    ls /var/lib/systemd/linger >/dev/null; ss -Hltnu >/dev/null; podman --version >/dev/null
    systemctl is-active --quiet "user@$uid.service"
    as "$name" "$uid" systemctl --user show -p Id,LoadState,ActiveState,SubState '*.service' >/dev/null
    as "$name" "$uid" podman secret ls --format '{{.Name}}' >/dev/null
    as "$name" "$uid" podman images --format json >/dev/null
  else
    as "$name" "$uid" systemctl --user show -p Id,LoadState,ActiveState,SubState '*.service' >/dev/null
    as "$name" "$uid" podman ps -a --format json >/dev/null
    as "$name" "$uid" podman images --format json >/dev/null
  fi
done
