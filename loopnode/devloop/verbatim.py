"""Verbatim model formats for tests (R1 `?raw=true`): the uploaded bytes are stored and served unchanged.

A normal upload is flattened and gets a completed `model.json`; a verbatim one keeps whatever was sent (a
`../evil` entry, sub-folders, a symlink entry, no `model.json`, or bytes that are not a zip at all), so node
tests can check how a detector handles such downloads. An empty marker file `models/<id>/<format>.verbatim`
next to the stored zip says so; it goes away with the model folder (reset, project delete).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .store import Store

MARKER_SUFFIX = '.verbatim'


def verbatim_marker(store: Store, model_id: str, fmt: str) -> Path:
    """The marker file of a verbatim format (zips end in `.zip`, so no format's zip can collide with it)."""
    return store.model_zip_path(model_id, fmt).parent / f'{fmt}{MARKER_SUFFIX}'


def is_verbatim(store: Store, model_id: str, fmt: str) -> bool:
    return verbatim_marker(store, model_id, fmt).is_file()


def add_verbatim_format(store: Store, org: str, project: str, fmt: str, content: bytes, *,
                        version: str | None = None, new_model: bool = False) -> dict[str, Any]:
    """Attach `content` unchanged as format `fmt` (new version, or `version`; `new_model` forces a new model)."""
    markers: list[Path] = []

    def keep_as_sent(model: dict[str, Any]) -> bytes:
        marker = verbatim_marker(store, model['id'], fmt)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        markers.append(marker)
        return content
    try:
        return store.add_model_format(org, project, b'', fmt, version=version, new_model=new_model,
                                      must_exist=version is not None and not new_model, zip_for=keep_as_sent)
    except BaseException:
        for marker in markers:
            marker.unlink(missing_ok=True)
        raise


__all__ = ['add_verbatim_format', 'is_verbatim', 'verbatim_marker']
