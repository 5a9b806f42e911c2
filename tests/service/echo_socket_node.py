"""A minimal Socket.IO node process for the restart test: `python -m tests.service.echo_socket_node`."""
from __future__ import annotations

import sys
from typing import Any, Callable

from loopnode.logs import setup_logging
from loopnode.service.socket_node import SocketNodeService
from loopnode.settings import Settings


class EchoSocketNode(SocketNodeService):
    """Answers `user_logout(sid)` with True and sends an `update_annotation_node` status every cycle."""

    node_type = 'annotator'
    socket_node_type = 'annotation_node'

    def socket_handlers(self) -> dict[str, Callable[..., Any]]:
        return {'user_logout': lambda sid: True}

    def repeat_cycle(self) -> None:
        if self.loop_connected():
            self.loop_socket.call('update_annotation_node', {**self.status_record(), 'errors': {},
                                                             'capabilities': ['echo']}, timeout=10)


def main() -> int:
    settings = Settings.from_env(node_type='annotator')
    setup_logging(settings.log_level)
    return EchoSocketNode(settings, name='echo socket node').run()


if __name__ == '__main__':
    sys.exit(main())
