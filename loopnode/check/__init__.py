"""`loopnode check`: does a node's configuration work on this machine? One line per check, nothing written.

`command` is the CLI, `local` and `loop_checks` the checks, `unitfiles` reads systemd's files, `logic_api`
knows each node type's `--logic` hooks and `report` renders the lines and the exit code.
"""
