"""Login modes of devloop (loop-protocol.md §11.1): open, login (any credentials), strict (configured users)."""
from __future__ import annotations

import hmac
from dataclasses import dataclass, field

AUTH_MODES = ('open', 'login', 'strict')


def parse_users(text: str) -> dict[str, str]:
    """`user:password,…` → {user: password}; ValueError for an entry without `:` or an empty user."""
    users: dict[str, str] = {}
    for entry in (e.strip() for e in text.split(',')):
        if not entry:
            continue
        user, sep, password = entry.partition(':')
        if not sep or not user:
            raise ValueError(f'users: expected user:password, got {entry!r}')
        users[user] = password
    return users


@dataclass(frozen=True)
class AuthPolicy:
    """Which requests need a session cookie and which credentials may log in."""
    mode: str = 'open'
    users: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in AUTH_MODES:
            raise ValueError(f'auth: expected one of {", ".join(AUTH_MODES)}, got {self.mode!r}')

    @property
    def cookie_required(self) -> bool:
        return self.mode != 'open'

    def accepts(self, username: str, password: str) -> bool:
        """Whether a login with these credentials succeeds."""
        if self.mode != 'strict':
            return True
        expected = self.users.get(username)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())
