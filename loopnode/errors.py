"""Exceptions shared by every node type."""
from __future__ import annotations

import requests


class NodeNeedsRestartError(Exception):
    """Raised by a logic when only a process restart can help (e.g. the GPU is gone): the node exits with 75."""


class ConfigError(Exception):
    """An invalid setting; the process stops with exit code 78 (EX_CONFIG) and this one-line message."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        self.name = name
        self.value = value
        self.expected = expected
        super().__init__(f'invalid setting {name}={value!r}: expected {expected}')


class LoopLoginError(requests.RequestException):
    """`POST /api/login` did not answer 200: a failed request like any other for the code that called it."""


class LoopRequestError(Exception):
    """A call to the Loop failed (transport error or unexpected status); the message says which."""
