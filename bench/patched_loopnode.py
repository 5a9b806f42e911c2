"""Run `loopnode` with proposed hot-path changes wired in, to measure them before their owners adopt them.

    python bench/patched_loopnode.py --patches compactjson detector --logic loopnode_logic:FixedLogicFactory

keepalive, fastws and fastjpeg were measured here first and are now part of loopnode; what is left:
  compactjson  compact JSON separators for the detector's REST answers (as upstream/FastAPI sends them)
  copyframes   fastws's copying receive path (bytearray, then bytes()) instead of the zero-copy one, for A/B runs
"""
from __future__ import annotations

import sys
from typing import Callable


def compactjson() -> None:
    import json

    from flask import Response

    from loopnode.detector.api import rest as api_rest

    def json_response(value: object, status: int = 200) -> Response:
        return Response(json.dumps(value, separators=(',', ':')), status=status, mimetype='application/json')

    api_rest.json_response = json_response  # type: ignore[assignment]


def trimloop() -> None:
    """Experiment: malloc_trim(0) once a second on a thread of its own (what glibc would give back)."""
    import ctypes
    import threading

    libc = ctypes.CDLL('libc.so.6')
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(1.0):
            libc.malloc_trim(0)
    threading.Thread(target=run, name='bench-trim', daemon=True).start()


def copyframes() -> None:
    """A/B: every binary message through the copying path, as before `service/fillbytes.py`."""
    from loopnode.service import fastws

    original = fastws.FrameSocket.__init__

    def init(self: fastws.FrameSocket, sock: object, max_message: int, zero_copy: bool = True) -> None:
        original(self, sock, max_message, zero_copy=False)  # type: ignore[arg-type]
    fastws.FrameSocket.__init__ = init  # type: ignore[method-assign]


PATCHES: dict[str, Callable[[], None]] = {'compactjson': compactjson, 'trimloop': trimloop, 'copyframes': copyframes}


def main(argv: list[str]) -> int:
    patches: list[str] = []
    if argv[:1] == ['--patches']:
        patches = [p for p in argv[1].split(',') if p]
        argv = argv[2:]
    for name in patches:
        PATCHES[name]()
    from loopnode.cli import main as cli_main
    return cli_main(argv)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
