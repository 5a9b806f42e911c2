"""Run `loopnode` with proposed hot-path changes wired in, to measure them before their owners adopt them.

    python bench/patched_loopnode.py --patches fastjpeg detector --logic loopnode_logic:FixedLogicFactory

Patches (keepalive and fastws, measured here first, are now part of loopnode/service):
  compactjson  compact JSON separators for the detector's REST answers (as upstream/FastAPI sends them)
  fastjpeg   decode JPEGs with simplejpeg (libjpeg-turbo straight into numpy) when they need no EXIF rotation;
             needs simplejpeg importable (not a loopnode dependency: `make bench-extras` puts it in .bench-deps)
"""
from __future__ import annotations

import sys
from typing import Callable


def compactjson() -> None:
    import json

    from flask import Response

    from loopnode.detector import api_rest

    def json_response(value: object, status: int = 200) -> Response:
        return Response(json.dumps(value, separators=(',', ':')), status=status, mimetype='application/json')

    api_rest.json_response = json_response  # type: ignore[assignment]


def fastjpeg() -> None:
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / '.bench-deps'))
    import fast_decode

    from loopnode.detector import api_rest, images

    fast = fast_decode.make_decoder(images.decode_encoded)
    images.decode_encoded = fast  # type: ignore[assignment]  # used by decode_image_dict (Socket.IO)
    api_rest.decode_encoded = fast  # type: ignore[assignment]  # imported by name (REST)


PATCHES: dict[str, Callable[[], None]] = {'compactjson': compactjson, 'fastjpeg': fastjpeg}


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
