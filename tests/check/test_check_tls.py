"""`loopnode check` against an https Loop with a self-signed certificate: ✖ without, ✔ with LOOP_SSL_CERT_PATH."""
from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest

from tests.check.robot import Robot


class StatusHandler(http.server.BaseHTTPRequestHandler):
    """200 for `GET /api/status`, 404 for everything else."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200 if self.path == '/api/status' else 404)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass


@pytest.fixture
def tls_loop(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An https server on 127.0.0.1 with a fresh self-signed certificate; (base URL, certificate file)."""
    if shutil.which('openssl') is None:
        pytest.skip('needs the openssl command')
    cert, key = tmp_path / 'loop.pem', tmp_path / 'loop.key'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
                    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', str(key), '-out', str(cert)],
                   check=True, capture_output=True, timeout=60)
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), StatusHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name='tls-loop')
    thread.start()
    try:
        yield f'https://127.0.0.1:{server.server_address[1]}', cert
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_tls_verifies_only_with_the_ca_bundle(tls_loop: tuple[str, Path], tmp_path: Path) -> None:
    """Self-signed Loop: ✖ TLS verification failed (hint LOOP_SSL_CERT_PATH); with it set: ✔ TLS verified."""
    url, cert = tls_loop
    robot = Robot(tmp_path / 'robot', url)
    robot.write_env()
    run = robot.run()
    line = run.line(f'✖ Loop {url}')
    assert 'TLS verification failed' in line and 'set LOOP_SSL_CERT_PATH' in line
    robot.env['LOOP_SSL_CERT_PATH'] = str(cert)
    robot.write_env()
    run = robot.run()
    assert run.line(f'✔ Loop {url}').endswith('TLS verified with LOOP_SSL_CERT_PATH')
