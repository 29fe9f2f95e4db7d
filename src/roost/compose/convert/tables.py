"""Which service keys the converter reads, and the advice for each key it does not."""

from __future__ import annotations

# service keys the converter reads; every other key is reported (x- extension fields are skipped)
HANDLED = {"image", "build", "ports", "expose", "volumes", "environment", "env_file", "healthcheck", "depends_on",
           "command", "entrypoint", "cap_add", "cap_drop", "read_only", "labels", "restart", "profiles", "networks",
           "network_mode", "privileged", "devices", "container_name", "hostname", "links", "security_opt", "tmpfs",
           "user", "deploy", "mem_limit", "cpus", "pids_limit"}
DEPLOY_KEYS = {"resources", "restart_policy", "replicas", "mode"}  # the deploy: keys the converter reads
ADVICE = {
    "working_dir": "set it in the image (WORKDIR) or wrap the command",
    "ulimits": "ulimits are not modelled; podman's defaults apply",
    "sysctls": "sysctls are not modelled (a rootless pod cannot set most of them)",
    "logging": "logs go to the journal: `roost logs APP`",
    "stop_grace_period": "systemd's default stop timeout applies",
    "extra_hosts": "add the host names to the image or use IP addresses",
    "dns": "the pod uses the host's resolver",
    "shm_size": "podman's default /dev/shm (64 MB) applies",
    "init": "use an image with its own init, or add one to the command",
    "secrets": "make it a generated secret ([secrets]) passed in env, or mount the file from the app's home",
    "configs": "keep the file in the app's home and mount it as a volume",
    "volumes_from": "mount the same volumes explicitly",
    "stop_signal": "systemd stops the container with podman's default signal",
    "tty": "not needed for a service run by systemd",
    "stdin_open": "not needed for a service run by systemd",
    "pull_policy": "roost pulls a missing image and `roost update` pulls newer ones",
    "platform": "the host's platform is used",
    "pid": "containers of one pod do not share a PID namespace in roost",
    "ipc": "not modelled",
    "group_add": "set the groups in the image",
    "external_links": "reach other apps through their published ports",
    "scale": "one container runs per service",
}
