#!/bin/sh
# The upstream image's contract (docker/start.py), in short: `generate` writes the config;
# otherwise the config must exist; /data is handed to UID:GID and Synapse runs as them.
set -eu
uid="${UID:-991}" gid="${GID:-991}"
config="${SYNAPSE_CONFIG_PATH:-/data/homeserver.yaml}"
data="${SYNAPSE_DATA_DIR:-/data}"
as_synapse() { exec setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"; }
mkdir -p "$data"
find "$data" \! -user "$uid" -exec chown "$uid:$gid" '{}' +
if [ "${1:-}" = generate ]; then
	: "${SYNAPSE_SERVER_NAME:?set SYNAPSE_SERVER_NAME to generate a config}"
	as_synapse python3 -m synapse.app.homeserver --generate-config --config-path "$config" \
		--server-name "$SYNAPSE_SERVER_NAME" --report-stats "${SYNAPSE_REPORT_STATS:-no}" \
		--data-directory "$data" --config-directory "$(dirname "$config")"
fi
if [ ! -f "$config" ]; then
	echo "Config file '$config' does not exist: run the image with \`generate\` first" >&2
	exit 1
fi
as_synapse python3 -m synapse.app.homeserver --config-path "$config" "$@"
