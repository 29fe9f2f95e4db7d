#!/bin/sh
# The upstream image's contract (docker/start.py), in short: `generate` writes the config and exits;
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
	# as upstream (its conf/log.config): log to the console, i.e. the journal; Synapse's own generator
	# would write a file handler relative to the working directory (/homeserver.log: not writable)
	log_config="$(dirname "$config")/$SYNAPSE_SERVER_NAME.log.config"
	if [ ! -f "$log_config" ]; then
		cat > "$log_config" <<-'EOF'
		version: 1
		formatters:
		  precise:
		    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s'
		handlers:
		  console:
		    class: logging.StreamHandler
		    formatter: precise
		root:
		  level: INFO
		  handlers: [console]
		disable_existing_loggers: false
		EOF
		chown "$uid:$gid" "$log_config"
	fi
	# as upstream: the HTTP listener on every address of the container (the network is private), then exit
	as_synapse python3 -m synapse.app.homeserver --generate-config --config-path "$config" \
		--server-name "$SYNAPSE_SERVER_NAME" --report-stats "${SYNAPSE_REPORT_STATS:-no}" \
		--data-directory "$data" --config-directory "$(dirname "$config")" --open-private-ports
fi
if [ ! -f "$config" ]; then
	echo "Config file '$config' does not exist: run the image with \`generate\` first" >&2
	exit 1
fi
as_synapse python3 -m synapse.app.homeserver --config-path "$config" "$@"
