"""`DevLoop`: devloop in-process (tests, demos) on the shared `HttpServer`; `stop()` joins everything."""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Sequence

from flask import Flask

from loopnode.service.httpd.limits import HttpLimits
from loopnode.service.server import HttpServer
from loopnode.service.sockets import create_socketio

from . import admin, admin_trainer, api_converter
from .app import DEFAULT_MAX_UPLOAD_BYTES, create_app
from .auth import AuthPolicy, parse_users
from .context import DevLoopContext
from .faults import FaultMiddleware
from .pages import register_pages
from .seed import SEEDS, SeedHook, apply_seed
from .sockets import SocketHub
from .store import Store

log = logging.getLogger(__name__)


def build_app(ctx: DevLoopContext, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> tuple[Flask, SocketHub]:
    """The Flask app with REST, Socket.IO at /ws/socket.io and the admin API."""
    app = create_app(ctx, max_upload_bytes=max_upload_bytes)
    socketio = create_socketio(app, always_connect=False, ping_interval=10, ping_timeout=20)
    hub = SocketHub(ctx, socketio)
    app.register_blueprint(admin.create_blueprint(ctx, hub))
    app.register_blueprint(admin_trainer.create_blueprint(ctx))
    app.register_blueprint(api_converter.admin_blueprint(ctx))
    register_pages(app, ctx, hub)
    return app, hub


class DevLoop:
    """A Learning Loop emulator with its state in `data_dir` (created on demand, kept across restarts).

    `seed` fills an empty data dir ('demo' or 'empty'); `seed_hooks` run after it (also on reset), e.g.
    `lambda store: add_model_format(store, 'demo', '1.1', 'color_blobs', zip_bytes)`.
    """

    def __init__(self, data_dir: str | os.PathLike[str], *, auth: str = 'open', users: str = 'admin:admin',
                 seed: str = 'demo', seed_hooks: Sequence[SeedHook] = (),
                 max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
        if seed not in SEEDS:
            raise ValueError(f'seed: expected one of {", ".join(SEEDS)}, got {seed!r}')
        self.data_dir = Path(data_dir).absolute()  # send_file resolves relative paths against the package
        self.policy = AuthPolicy(auth, parse_users(users))
        self.seed = seed
        self.seed_hooks = tuple(seed_hooks)
        self.max_upload_bytes = max_upload_bytes
        self._server: HttpServer | None = None
        self._hub: SocketHub | None = None
        self._ctx: DevLoopContext | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:8000` (nodes use it as LOOP_HOST)."""
        if self._server is None:
            raise RuntimeError('devloop is not started')
        return self._server.url

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError('devloop is not started')
        return self._server.port

    @property
    def store(self) -> Store:
        if self._ctx is None:
            raise RuntimeError('devloop is not started')
        return self._ctx.store

    def start(self, host: str = '127.0.0.1', port: int = 0) -> str:
        """Open the store (seeding it if new), listen on host:port (0 = a free port); returns the base URL."""
        with self._lock:
            if self._server is not None:
                raise RuntimeError('devloop is already started')
            store = Store(self.data_dir)
            try:
                if store.get_meta('seed') is None:
                    apply_seed(store, self.seed, self.seed_hooks)
                ctx = DevLoopContext(store=store, auth=self.policy, seed=self.seed, seed_hooks=self.seed_hooks)
                app, hub = build_app(ctx, self.max_upload_bytes)
                server = HttpServer(FaultMiddleware(app, ctx.faults, ctx.requests, ctx.stop), host, port,
                                    name='devloop-http', limits=HttpLimits(max_body=self.max_upload_bytes))
                server.start()
            except BaseException:
                store.close()
                raise
            self._ctx, self._hub, self._server = ctx, hub, server
        log.info('devloop listening on %s (auth %s, data %s)', server.url, self.policy.mode, self.data_dir)
        return server.url

    def stop(self, grace: float = 5.0) -> None:
        """Disconnect Socket.IO nodes, stop the HTTP server, join its threads and close the store."""
        with self._lock:
            server, hub, ctx = self._server, self._hub, self._ctx
            self._server = self._hub = self._ctx = None
        if server is None or hub is None or ctx is None:
            return
        ctx.stop.set()
        hub.disconnect_all()
        server.shutdown(grace)
        ctx.store.close()
        log.info('devloop stopped')

    def __enter__(self) -> 'DevLoop':
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
