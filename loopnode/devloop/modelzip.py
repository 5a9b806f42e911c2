"""Pure helpers for model zips: flat file sets, `model.json` completion, zip bytes in and out."""
from __future__ import annotations

import io
import json
import posixpath
import re
import zipfile
from typing import Any

FORMAT_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
MAX_ZIP_ENTRIES = 1000


class ModelFilesError(ValueError):
    """Files that cannot form a model (bad zip, duplicate names, broken model.json)."""


def check_format_name(fmt: str) -> None:
    if not FORMAT_NAME.match(fmt) or '..' in fmt:
        raise ModelFilesError(f'invalid format name {fmt!r}')


def flat_name(name: str) -> str:
    """Base name of an uploaded file or zip entry (folders dropped, as the Loop's zips are flat)."""
    return posixpath.basename(name.replace('\\', '/'))


def files_from_zip(zip_bytes: bytes) -> dict[str, bytes]:
    """Flat {name: content} of a zip's files; ModelFilesError for a broken zip or clashing names."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            if len(infos) > MAX_ZIP_ENTRIES:
                raise ModelFilesError(f'more than {MAX_ZIP_ENTRIES} files in the zip')
            files: dict[str, bytes] = {}
            for info in infos:
                name = flat_name(info.filename)
                if not name:
                    continue
                if name in files:
                    raise ModelFilesError(f'two files named {name!r}')
                files[name] = archive.read(info)
            return files
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as e:
        raise ModelFilesError(f'not a readable zip: {e}') from None


def zip_from_files(files: dict[str, bytes]) -> bytes:
    """A flat zip of the files, `model.json` first."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files, key=lambda n: (n != 'model.json', n)):
            archive.writestr(name, files[name])
    return out.getvalue()


def parse_model_json(content: bytes | None) -> dict[str, Any]:
    """The uploaded model.json as a dict ({} when absent); ModelFilesError when it is not a JSON object."""
    if content is None:
        return {}
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFilesError(f'model.json is not JSON: {e}') from None
    if not isinstance(data, dict):
        raise ModelFilesError('model.json is not a JSON object')
    if 'categories' in data and not isinstance(data['categories'], list):
        raise ModelFilesError('model.json: categories is not a list')
    resolution = data.get('resolution')
    if resolution is not None and (isinstance(resolution, bool) or not isinstance(resolution, int)):
        raise ModelFilesError('model.json: resolution is not an int')
    return data


def complete_model_json(info: dict[str, Any], *, model_id: str, organization: str, project: str, version: str,
                        fmt: str, categories: list[dict[str, Any]], resolution: int | None = None,
                        host: str | None = None) -> dict[str, Any]:
    """model.json as the Loop serves it: identity fields set, categories and resolution filled if missing."""
    result = dict(info)
    result.setdefault('categories', categories)
    if result.get('resolution') is None and resolution is not None:
        result['resolution'] = resolution
    result.update({'id': model_id, 'organization': organization, 'project': project, 'version': version,
                   'format': fmt})
    if host is not None:
        result['host'] = host
    return result


def with_model_json(files: dict[str, bytes], info: dict[str, Any]) -> dict[str, bytes]:
    return files | {'model.json': json.dumps(info, indent=2).encode()}
