"""Validation of uploaded image batches and model files (pure: bytes in, records out, `UploadError` on bad input)."""
from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from loopnode.data import ImageMetadata

from .modelzip import ModelFilesError, flat_name, parse_model_json
from .store import UPLOAD_STATES, NewImage, now_iso

JPEG_SUFFIXES = ('.jpg', '.jpeg')


class UploadError(ValueError):
    """The upload is refused as a whole (HTTP 422); the message says why."""


@dataclass(frozen=True)
class ImagePair:
    stem: str
    metadata_text: str
    metadata: dict[str, Any]
    jpeg: bytes
    width: int
    height: int


def decode_jpeg(content: bytes, name: str) -> tuple[int, int]:
    """(width, height) of a JPEG that fully decodes; UploadError otherwise."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            if image.format != 'JPEG':
                raise UploadError(f'{name}: not a JPEG ({image.format})')
            image.load()
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        if isinstance(e, UploadError):
            raise
        raise UploadError(f'{name}: the JPEG does not decode: {e}') from None


def pair_image_parts(parts: list[tuple[str, bytes]]) -> list[ImagePair]:
    """Pair `image_<id>.json` with `image_<id>.jpg` by stem; every part must belong to a complete, valid pair."""
    if not parts:
        raise UploadError('no files: expected multipart parts named "files"')
    jsons: dict[str, bytes] = {}
    jpegs: dict[str, bytes] = {}
    for filename, content in parts:
        name = flat_name(filename or '')
        stem, dot, suffix = name.rpartition('.')
        suffix = '.' + suffix.lower() if dot else ''
        target = jsons if suffix == '.json' else jpegs if suffix in JPEG_SUFFIXES else None
        if target is None or not stem:
            raise UploadError(f'unexpected part {filename!r}: expected image_<id>.json and image_<id>.jpg')
        if stem in target:
            raise UploadError(f'two parts named {name!r}')
        target[stem] = content
    unpaired = sorted(set(jsons) ^ set(jpegs))
    if unpaired:
        raise UploadError(f'unpaired parts: {", ".join(unpaired)}')
    pairs = []
    for stem in jsons:  # insertion order = order of the JSON parts
        try:
            text = jsons[stem].decode('utf-8')
            raw = json.loads(text)
            metadata = ImageMetadata.from_dict(raw)
        except (UnicodeDecodeError, ValueError) as e:  # DataError is a ValueError
            raise UploadError(f'{stem}.json: {e}') from None
        if metadata.state is not None and metadata.state not in UPLOAD_STATES:
            raise UploadError(f'{stem}.json: state {metadata.state!r} is not one of {", ".join(UPLOAD_STATES)}')
        width, height = decode_jpeg(jpegs[stem], f'{stem}.jpg')
        pairs.append(ImagePair(stem, text, raw, jpegs[stem], width, height))
    return pairs


def image_from_pair(pair: ImagePair, categories: list[dict[str, Any]]) -> NewImage:
    """The stored image of an uploaded pair: annotations from its metadata, metadata text kept as sent."""
    image_id = str(uuid.uuid4())
    by_name = {c['name']: c['id'] for c in categories}
    meta = pair.metadata

    def category_id(annotation: dict[str, Any]) -> str | None:
        return annotation.get('category_id') or by_name.get(annotation.get('category_name', ''))

    boxes = [{'id': str(uuid.uuid4()), 'image_id': image_id, 'category_id': category_id(a), 'x': a['x'], 'y': a['y'],
              'width': a['width'], 'height': a['height']} for a in meta.get('box_annotations') or []]
    points = [{'id': str(uuid.uuid4()), 'image_id': image_id, 'category_id': category_id(a), 'x': a['x'],
               'y': a['y']} for a in meta.get('point_annotations') or []]
    classification = meta.get('classification_annotation')
    annotations = {
        'box_annotations': boxes, 'point_annotations': points, 'segmentation_annotations': [],
        'classification_annotation': None if classification is None else {
            'id': str(uuid.uuid4()), 'image_id': image_id, 'category_id': category_id(classification)},
        'box_detections': meta.get('box_detections') or [], 'point_detections': meta.get('point_detections') or [],
        'segmentation_detections': meta.get('segmentation_detections') or [],
        'classification_detections': meta.get('classification_detections') or [],
        'tags': [{'id': str(uuid.uuid5(uuid.NAMESPACE_URL, t)), 'name': t} for t in meta.get('tags') or []],
    }
    return NewImage(id=image_id, jpeg=pair.jpeg, state=meta.get('state') or 'inbox', image_set='train',
                    width=pair.width, height=pair.height, annotations=annotations,
                    created=meta.get('created') or now_iso(), metadata=pair.metadata_text, upload_name=pair.stem)


@dataclass(frozen=True)
class ModelUpload:
    files: dict[str, bytes]
    info: dict[str, Any]


def model_upload(parts: list[tuple[str, bytes]]) -> ModelUpload:
    """A format's files from multipart parts: flat names, at most one model.json (parsed, may be absent)."""
    if not parts:
        raise UploadError('no files: expected multipart parts named "files"')
    files: dict[str, bytes] = {}
    model_json: list[bytes] = []
    for filename, content in parts:
        name = flat_name(filename or '')
        if not name:
            raise UploadError('a part without a file name')
        if name == 'model.json':
            model_json.append(content)
            continue
        if name in files:
            raise UploadError(f'two files named {name!r}')
        files[name] = content
    if len(model_json) > 1:
        raise UploadError('more than one model.json')
    try:
        info = parse_model_json(model_json[0] if model_json else None)
    except ModelFilesError as e:
        raise UploadError(str(e)) from None
    return ModelUpload(files, info)


__all__ = ['ImagePair', 'ModelUpload', 'UploadError', 'decode_jpeg', 'image_from_pair',
           'model_upload', 'pair_image_parts']
