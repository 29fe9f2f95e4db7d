"""The lab: a disposable Debian 13 host with systemd and rootless Podman 5, booted with
systemd-nspawn on this machine. Users try specs in it (`roost lab try`); the end-to-end
tests run roost against it. It shares the machine's network, so only one lab runs at a time.
"""
