"""Runnable example logics for loopnode (see each sub-package's README.md)."""
