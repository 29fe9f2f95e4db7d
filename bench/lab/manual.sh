#!/bin/bash
# The notes deployment typed by hand, as the source document does it (runs INSIDE the lab, as root).
#   manual.sh MODE NAME UID PORT POSTGRES_IMAGE NOTES_IMAGE
# MODE quadlet: user, ids, linger, env files, Quadlet .pod/.container files written by this script
#               (what a careful human would type today), daemon-reload, start.
# MODE doc:     user, ids, linger, `podman pod create -p`, `podman run` x2 with env files and volumes,
#               `podman generate systemd --new --files --name`, `systemctl --user enable --now pod-NAME`
#               (the source document, literally; generate systemd is deprecated but still in podman 5.4).
# MODE compose: user, ids, linger, env files, docker-compose.yml, `podman-compose up -d` (no systemd units).
set -euo pipefail
MODE=$1 NAME=$2 ID=$3 PORT=$4 PG=$5 NOTES=$6
HOME_DIR=/srv/manual/$NAME
SUB=$((ID * 100000))
PASSWORD=bench-only-password-0123456789ab

mkdir -p /srv/manual
groupadd -g "$ID" "$NAME"
useradd -g "$ID" -u "$ID" -d "$HOME_DIR" -m -s /usr/sbin/nologin "$NAME"
usermod --add-subuids "$SUB-$((SUB + 65535))" --add-subgids "$SUB-$((SUB + 65535))" "$NAME"
loginctl enable-linger "$NAME"
until [ -S "/run/user/$ID/bus" ]; do sleep 0.05; done

as_user() {
  runuser -u "$NAME" -- env -i HOME="$HOME_DIR" USER="$NAME" PATH=/usr/local/bin:/usr/bin:/bin \
    XDG_RUNTIME_DIR="/run/user/$ID" DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/$ID/bus" \
    bash -euo pipefail -c "cd ~; $1"
}

as_user "
mkdir -p database uploads
umask 077
cat > database.env <<E
PGDATA=/var/lib/postgresql/data/pgdata
POSTGRES_PASSWORD=$PASSWORD
POSTGRES_USER=notes
POSTGRES_DB=notes
E
cat > application.env <<E
DATABASE_URL=postgres://notes:$PASSWORD@127.0.0.1:5432/notes
PORT=3000
E
"

case "$MODE" in
doc)
  as_user "
podman pod create --name $NAME --publish 127.0.0.1:$PORT:3000 >/dev/null
podman run --detach --pod=$NAME --name=$NAME-database --label io.containers.autoupdate=registry \
  --env-file ~/database.env --volume ~/database/:/var/lib/postgresql/data:Z $PG >/dev/null
podman run --detach --pod=$NAME --name=$NAME-app --label io.containers.autoupdate=registry \
  --env-file ~/application.env --volume ~/uploads/:/srv/uploads:Z $NOTES >/dev/null
mkdir -p ~/.config/systemd/user && cd ~/.config/systemd/user
podman generate systemd --files --name --new --no-header $NAME >/dev/null 2>&1
systemctl --user daemon-reload
systemctl --user enable --now pod-$NAME.service 2>/dev/null
"
  ;;
quadlet)
  as_user "
mkdir -p ~/.config/containers/systemd && cd ~/.config/containers/systemd
cat > $NAME.pod <<E
[Pod]
PodName=$NAME
PublishPort=127.0.0.1:$PORT:3000
PodmanArgs=--exit-policy=continue
[Install]
WantedBy=default.target
E
cat > database.container <<E
[Container]
ContainerName=$NAME-database
Image=$PG
Pod=$NAME.pod
AutoUpdate=registry
EnvironmentFile=$HOME_DIR/database.env
Volume=$HOME_DIR/database:/var/lib/postgresql/data:Z
HealthCmd=pg_isready -h 127.0.0.1 -U notes
HealthInterval=10s
HealthStartupCmd=pg_isready -h 127.0.0.1 -U notes
HealthStartupInterval=1s
HealthStartupRetries=300
HealthStartupSuccess=1
Notify=healthy
[Service]
Restart=always
TimeoutStartSec=300
E
cat > app.container <<E
[Unit]
Requires=database.service
After=database.service
[Container]
ContainerName=$NAME-app
Image=$NOTES
Pod=$NAME.pod
AutoUpdate=registry
EnvironmentFile=$HOME_DIR/application.env
Volume=$HOME_DIR/uploads:/srv/uploads:Z
HealthCmd=curl -fsS -o /dev/null --max-time 5 http://127.0.0.1:3000/status
HealthInterval=10s
HealthStartupCmd=curl -fsS -o /dev/null --max-time 5 http://127.0.0.1:3000/status
HealthStartupInterval=1s
HealthStartupRetries=300
HealthStartupSuccess=1
Notify=healthy
[Service]
Restart=always
TimeoutStartSec=300
E
systemctl --user daemon-reload
systemctl --user start $NAME-pod.service database.service app.service
"
  ;;
compose)
  as_user "
cat > docker-compose.yml <<E
services:
  database:
    image: $PG
    container_name: $NAME-database
    env_file: [database.env]
    volumes: ['./database:/var/lib/postgresql/data:Z']
    labels: {io.containers.autoupdate: registry}
    healthcheck: {test: ['CMD-SHELL', 'pg_isready -h 127.0.0.1 -U notes'], interval: 10s}
  app:
    image: $NOTES
    container_name: $NAME-app
    env_file: [application.env]
    volumes: ['./uploads:/srv/uploads:Z']
    labels: {io.containers.autoupdate: registry}
    ports: ['127.0.0.1:$PORT:3000']
    depends_on: [database]
E
timeout 180 /opt/bench-compose/bin/podman-compose --in-pod true -p $NAME up -d >/dev/null 2>compose.err || { cat compose.err >&2; exit 1; }
# podman-compose exits 0 (or waits) even when podman failed to start a container
if grep -q '^Error' compose.err; then grep '^Error' compose.err >&2; exit 1; fi
"
  ;;
*) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
