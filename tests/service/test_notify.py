"""sd_notify: messages reach the socket, and a reader that stops reading never blocks the sender."""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from loopnode.service.notify import SystemdNotifier


def test_messages_reach_the_socket(tmp_path: Path) -> None:
    """READY=1 arrives as one datagram; without NOTIFY_SOCKET nothing is sent."""
    path = str(tmp_path / 'notify')
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as reader:
        reader.bind(path)
        assert SystemdNotifier(path).notify('READY=1')
        assert reader.recv(100) == b'READY=1'
    assert not SystemdNotifier(None).notify('READY=1')


@pytest.mark.timeout(30)
def test_a_reader_that_never_reads_does_not_block(tmp_path: Path) -> None:
    """Once the reader's queue is full, notify returns False at once instead of blocking the main thread."""
    path = str(tmp_path / 'notify')
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as reader:
        reader.bind(path)
        notifier = SystemdNotifier(path, watchdog_usec=1_000_000)
        results: list[bool] = []
        sender = threading.Thread(target=lambda: results.extend(notifier.notify('WATCHDOG=1') for _ in range(2000)),
                                  name='sender')
        sender.start()
        sender.join(20)
        assert not sender.is_alive(), 'notify blocked on a full socket'
        assert results[0] and not all(results)
