"""`python -m loopnode` is the `loopnode` command."""
from .cli import entry_point

entry_point()
