"""Offsite backups with restic: the app's side adds snapshots (`upload`), the trusted side prunes
and prints the recovery kit (`trusted`), a new server rebuilds an app from a snapshot
(`recover`), and a drill proves a snapshot restores (`drill`). See docs/operations.md."""
