"""The exit codes of every `loopnode` command, in one place (systemd's unit files and scripts rely on them)."""
from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1  # a fatal error in a node, a failed check, devloop or the demo failing
EXIT_USAGE = 2  # wrong arguments, e.g. a --logic that is not what the node type needs
EXIT_RESTART = 75  # EX_TEMPFAIL: only a restart can help; systemd restarts the node
EXIT_CONFIG = 78  # EX_CONFIG: an invalid setting
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: standard output was closed early (`loopnode check | head`)
