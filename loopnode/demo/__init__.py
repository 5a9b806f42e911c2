"""`loopnode demo` / `make demo`: devloop and all four nodes with the example logics, in one process.

`command.main` is the entry point (`loopnode demo [--cycle]`), `nodes` starts and stops the servers, `guide`
writes the curl commands of the cycle, `cycle` runs the cycle by itself.
"""
from __future__ import annotations

from .command import main, run, write_sample

__all__ = ['main', 'run', 'write_sample']
