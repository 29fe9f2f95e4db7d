#!/bin/bash
# Remove what manual.sh made (not timed): units, user manager, user, ids, home.
NAME=$1 ID=$2
if id "$NAME" >/dev/null 2>&1; then
  loginctl disable-linger "$NAME" 2>/dev/null
  systemctl stop "user@$ID.service" 2>/dev/null
  pkill -KILL -u "$ID" 2>/dev/null; sleep 0.2
  userdel -r -f "$NAME" >/dev/null 2>&1
fi
groupdel "$NAME" 2>/dev/null
sed -i "/^$NAME:/d" /etc/subuid /etc/subgid
rm -rf "/srv/manual/$NAME" "/run/user/$ID"
true
