"""Test helpers that build model zips byte by byte, bad ones included (traversal, symlink, sub-folders)."""
from __future__ import annotations

import io
import json
import stat
import zipfile
from typing import Any


def symlink_entry(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    """A zip entry that unzip tools treat as a symlink `name` → `target` (Unix mode in external_attr)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix, so external_attr carries the mode
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def zip_bytes(entries: dict[str, bytes] | list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    """A zip with the entries in order; names are written as given (`../evil` stays `../evil`)."""
    items = list(entries.items()) if isinstance(entries, dict) else entries
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w') as archive:
        for name, content in items:
            archive.writestr(name, content)
    return out.getvalue()


def model_json(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def corrupt_zip() -> bytes:
    """Bytes that start like a zip but are not one (what a truncated or damaged download looks like)."""
    return b'PK\x03\x04' + b'\x00garbage, not a zip archive' * 4
