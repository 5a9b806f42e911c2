"""sd_notify over a unix datagram socket (no libsystemd): READY=1, WATCHDOG=1, STOPPING=1."""
from __future__ import annotations

import logging
import socket

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends state lines to NOTIFY_SOCKET when it is set; otherwise does nothing."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings: half of WATCHDOG_USEC, or None without a watchdog."""
        if not self.enabled or not self.watchdog_usec:
            return None
        return self.watchdog_usec / 2e6

    def notify(self, state: str) -> bool:
        """Send one state message; True if it was sent."""
        if not self.address:
            return False
        address = '\0' + self.address[1:] if self.address.startswith('@') else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(address)
                sock.setblocking(False)  # a reader that stalls must not block the main thread (and SIGTERM)
                sock.send(state.encode())
            return True
        except OSError as e:
            log.warning('sd_notify %r to %s failed: %s', state, self.address, e)
            return False
