"""The node uuid, persisted in {DATA}/uuids.json keyed by the node name (loop-protocol.md §9.1)."""
from __future__ import annotations

import json
import logging
import time
import uuid as uuidlib
from pathlib import Path

from ..fsutil import atomic_write_json

log = logging.getLogger(__name__)


def name_key(name: str) -> str:
    """Key of a node name in uuids.json (upstream's rule)."""
    return name.lower().replace(' ', '_')


def node_uuid(data_folder: Path, name: str) -> str:
    """The uuid stored for `name`, creating and saving a new one if missing; a corrupt file is set aside."""
    path = data_folder / 'uuids.json'
    uuids: dict[str, str] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
            if not isinstance(loaded, dict):
                raise ValueError('not a JSON object')
            uuids = {str(k): str(v) for k, v in loaded.items()}
        except (ValueError, OSError) as e:
            corrupt = path.with_name(f'uuids.json.corrupt-{int(time.time())}')
            path.rename(corrupt)
            log.error('%s is corrupt (%s); moved it to %s and starting a new one', path, e, corrupt.name)
    key = name_key(name)
    if key not in uuids:
        uuids[key] = str(uuidlib.uuid4())
        atomic_write_json(path, uuids)
        log.info('new node uuid %s for %r', uuids[key], name)
    return uuids[key]
