"""devloop's state on disk: one sqlite3 database for records plus files for JPEGs and model zips.

One connection shared by all threads behind one lock; every public method is one transaction, so an
upload is stored completely or not at all. Files are written to `tmp/` first and renamed into place
before the transaction commits; a failed transaction deletes them again.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .. import isotime

log = logging.getLogger(__name__)

IMAGE_STATES = ('inbox', 'annotate', 'review', 'complete')
UPLOAD_STATES = IMAGE_STATES + ('trash',)
STATUS_HISTORY = 50

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (org TEXT, project TEXT, name TEXT, created TEXT, PRIMARY KEY (org, project));
CREATE TABLE IF NOT EXISTS categories (org TEXT, project TEXT, position INTEGER, id TEXT, record TEXT,
    PRIMARY KEY (org, project, id));
CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, org TEXT, project TEXT, state TEXT, image_set TEXT,
    created TEXT, width INTEGER, height INTEGER, annotations TEXT, metadata TEXT, upload_name TEXT,
    received_at TEXT, position INTEGER);
CREATE INDEX IF NOT EXISTS images_project ON images (org, project, state);
CREATE TABLE IF NOT EXISTS models (id TEXT PRIMARY KEY, org TEXT, project TEXT, version TEXT, major INTEGER,
    minor INTEGER, created TEXT, comment TEXT, training_number INTEGER);
CREATE TABLE IF NOT EXISTS model_formats (model_id TEXT, format TEXT, created TEXT, PRIMARY KEY (model_id, format));
CREATE TABLE IF NOT EXISTS targets (org TEXT, project TEXT, model_id TEXT, PRIMARY KEY (org, project));
CREATE TABLE IF NOT EXISTS trainings (org TEXT, project TEXT, number INTEGER, details TEXT, created TEXT,
    PRIMARY KEY (org, project, number));
CREATE TABLE IF NOT EXISTS received (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, org TEXT, project TEXT,
    key TEXT, payload TEXT, received_at TEXT);
CREATE INDEX IF NOT EXISTS received_kind ON received (kind, key);
CREATE TABLE IF NOT EXISTS sessions (cookie TEXT PRIMARY KEY, user TEXT, created TEXT);
"""


def now_iso() -> str:
    """Now in UTC to the millisecond (rows made within one second keep their order)."""
    return isotime.now_iso('milliseconds')


def parse_version(version: str) -> tuple[int, int]:
    """(major, minor) of 'x.y'; ValueError otherwise."""
    major, minor = version.split('.')
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError(f'not a version x.y: {version!r}')
    return int(major), int(minor)


class StoreError(Exception):
    """An operation the state does not allow; `status` is the HTTP answer, `detail` its JSON detail."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class NewImage:
    """An image to store: JPEG bytes plus its record fields; `annotations` holds the ImageData lists."""
    id: str
    jpeg: bytes
    state: str
    image_set: str
    width: int
    height: int
    annotations: dict[str, Any]
    created: str
    metadata: str | None = None
    upload_name: str | None = None


class Store:
    """Thread-safe devloop state in `data_dir` (database `devloop.sqlite3`, `images/`, `models/`, `tmp/`)."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir).absolute()  # Flask send_file would resolve a relative path against the package
        for sub in ('images', 'models', 'tmp'):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for leftover in (self.root / 'tmp').iterdir():
            if leftover.is_file():
                leftover.unlink()
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.root / 'devloop.sqlite3', check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute('PRAGMA journal_mode=WAL')
        self._db.execute('PRAGMA synchronous=NORMAL')
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- plumbing -------------------------------------------------------------------------------------

    @contextmanager
    def transaction(self, files: list[Path] | None = None) -> Iterator[sqlite3.Connection]:
        """One locked transaction; on error it rolls back and deletes `files` (written for it)."""
        with self._lock:
            self._db.execute('BEGIN IMMEDIATE')
            try:
                yield self._db
                self._db.execute('COMMIT')
            except BaseException:
                self._db.execute('ROLLBACK')
                for path in files or []:
                    path.unlink(missing_ok=True)
                raise

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _put_file(self, target: Path, content: bytes) -> Path:
        """Write `content` via tmp/ + fsync + rename; returns `target`."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.root / 'tmp' / f'{uuid.uuid4().hex}.part'
        with open(tmp, 'wb') as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        return target

    def get_meta(self, key: str) -> str | None:
        rows = self._query('SELECT value FROM meta WHERE key=?', (key,))
        return rows[0]['value'] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute('INSERT OR REPLACE INTO meta VALUES (?, ?)', (key, value))

    def wipe(self) -> None:
        """Drop every record and file (used by reset)."""
        with self.transaction() as db:
            for table in ('projects', 'categories', 'images', 'models', 'model_formats', 'targets', 'trainings',
                          'received', 'sessions', 'meta'):
                db.execute(f'DELETE FROM {table}')  # noqa: S608 - fixed table names
            for sub in ('images', 'models'):
                shutil.rmtree(self.root / sub, ignore_errors=True)
                (self.root / sub).mkdir()

    # ---- projects and categories -----------------------------------------------------------------------

    def add_project(self, org: str, project: str, categories: list[dict[str, Any]], name: str | None = None) -> None:
        with self.transaction() as db:
            if db.execute('SELECT 1 FROM projects WHERE org=? AND project=?', (org, project)).fetchone():
                raise StoreError(409, f'project {org}/{project} exists')
            db.execute('INSERT INTO projects VALUES (?, ?, ?, ?)', (org, project, name or project, now_iso()))
            for position, category in enumerate(categories):
                db.execute('INSERT INTO categories VALUES (?, ?, ?, ?, ?)',
                           (org, project, position, category['id'], json.dumps(category)))

    def has_project(self, org: str, project: str) -> bool:
        return bool(self._query('SELECT 1 FROM projects WHERE org=? AND project=?', (org, project)))

    def projects(self) -> list[tuple[str, str]]:
        return [(r['org'], r['project']) for r in self._query('SELECT org, project FROM projects ORDER BY org, project')]

    def categories(self, org: str, project: str) -> list[dict[str, Any]]:
        rows = self._query('SELECT record FROM categories WHERE org=? AND project=? ORDER BY position', (org, project))
        return [json.loads(r['record']) for r in rows]

    def delete_project(self, org: str, project: str, keep_images: bool = False) -> None:
        image_ids = [r['id'] for r in self._query('SELECT id FROM images WHERE org=? AND project=?', (org, project))]
        model_ids = [r['id'] for r in self._query('SELECT id FROM models WHERE org=? AND project=?', (org, project))]
        with self.transaction() as db:
            for table in ('projects', 'categories', 'images', 'models', 'targets', 'trainings', 'received'):
                db.execute(f'DELETE FROM {table} WHERE org=? AND project=?', (org, project))  # noqa: S608
            for model_id in model_ids:
                db.execute('DELETE FROM model_formats WHERE model_id=?', (model_id,))
        for model_id in model_ids:
            shutil.rmtree(self.root / 'models' / model_id, ignore_errors=True)
        if not keep_images:
            for image_id in image_ids:
                self.image_path(image_id).unlink(missing_ok=True)

    # ---- images --------------------------------------------------------------------------------------

    def image_path(self, image_id: str) -> Path:
        return self.root / 'images' / f'{image_id}.jpg'

    def add_images(self, org: str, project: str, images: list[NewImage]) -> list[str]:
        """Store all images or none; returns their ids in order."""
        written: list[Path] = []
        try:
            for image in images:
                written.append(self._put_file(self.image_path(image.id), image.jpeg))
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        received_at = now_iso()
        with self.transaction(files=written) as db:
            position = db.execute('SELECT COALESCE(MAX(position), 0) FROM images').fetchone()[0]
            for image in images:
                position += 1
                db.execute('INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                           (image.id, org, project, image.state, image.image_set, image.created, image.width,
                            image.height, json.dumps(image.annotations), image.metadata, image.upload_name,
                            received_at, position))
        return [image.id for image in images]

    def image_ids(self, org: str, project: str, state: str | None = None) -> list[str]:
        if state is None:
            rows = self._query('SELECT id FROM images WHERE org=? AND project=? AND state != ? ORDER BY position',
                               (org, project, 'trash'))
        else:
            rows = self._query('SELECT id FROM images WHERE org=? AND project=? AND state=? ORDER BY position',
                               (org, project, state))
        return [r['id'] for r in rows]

    def image_rows(self, org: str, project: str, ids: list[str] | None = None,
                   uploaded_only: bool = False) -> list[dict[str, Any]]:
        """Image rows as dicts (annotations decoded), in storage order; unknown ids are left out."""
        sql = 'SELECT * FROM images WHERE org=? AND project=?'
        args: list[Any] = [org, project]
        if ids is not None:
            sql += f' AND id IN ({",".join("?" * len(ids))})'
            args += ids
        if uploaded_only:
            sql += ' AND upload_name IS NOT NULL'
        rows = self._query(sql + ' ORDER BY position', tuple(args))
        return [dict(r) | {'annotations': json.loads(r['annotations'])} for r in rows]

    def all_uploaded_images(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._query('SELECT * FROM images WHERE upload_name IS NOT NULL ORDER BY position')]

    # ---- models --------------------------------------------------------------------------------------

    def model_zip_path(self, model_id: str, fmt: str) -> Path:
        return self.root / 'models' / model_id / f'{fmt}.zip'

    def models(self, org: str, project: str, fmt: str | None = None) -> list[dict[str, Any]]:
        """Model rows with their `formats`, oldest version first."""
        rows = self._query('SELECT * FROM models WHERE org=? AND project=? ORDER BY major, minor', (org, project))
        result = []
        for row in rows:
            formats = [r['format'] for r in self._query(
                'SELECT format FROM model_formats WHERE model_id=? ORDER BY created, format', (row['id'],))]
            if fmt is None or fmt in formats:
                result.append(dict(row) | {'formats': formats})
        return result

    def model(self, org: str, project: str, *, model_id: str | None = None,
              version: str | None = None) -> dict[str, Any] | None:
        for row in self.models(org, project):
            if (model_id is not None and row['id'] == model_id) or (version is not None and row['version'] == version):
                return row
        return None

    def _next_version(self, db: sqlite3.Connection, org: str, project: str) -> tuple[int, int]:
        row = db.execute('SELECT major, minor FROM models WHERE org=? AND project=? ORDER BY major DESC, minor DESC',
                         (org, project)).fetchone()
        return (1, 0) if row is None else (row['major'], row['minor'] + 1)

    def add_model_format(self, org: str, project: str, zip_bytes: bytes, fmt: str, *,
                         model_id: str | None = None, version: str | None = None,
                         training_number: int | None = None, new_model_id: str | None = None,
                         comment: str | None = None, must_exist: bool = False,
                         zip_for: Any = None, new_model: bool = False) -> dict[str, Any]:
        """Attach `fmt` to a model, creating it if needed; returns the model row. 409 if the format exists.

        The model is the one with `model_id`, else `version`, else the latest of `training_number`; when none
        of these names an existing model, a new one is created (`version` or the next one). `zip_for(model)`
        may turn the bytes into the final zip once the model's id and version are known. `new_model` always
        creates a new model, even if one with `version` exists (tests of duplicate versions).
        """
        with self._lock:
            with self.transaction() as db:
                model = None if new_model else self._find_model(db, org, project, model_id, version, training_number)
                if model is None and (model_id is not None or must_exist):
                    raise StoreError(404, f'unknown model {model_id or version}')
                if model is None:
                    major, minor = parse_version(version) if version else self._next_version(db, org, project)
                    model = {'id': new_model_id or str(uuid.uuid4()), 'org': org, 'project': project,
                             'version': f'{major}.{minor}', 'major': major, 'minor': minor, 'created': now_iso(),
                             'comment': comment, 'training_number': training_number}
                    db.execute('INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', tuple(model.values()))
                elif db.execute('SELECT 1 FROM model_formats WHERE model_id=? AND format=?',
                                (model['id'], fmt)).fetchone():
                    raise StoreError(409, {'id': model['id'], 'message': 'format already exists'})
                content = zip_for(model) if zip_for else zip_bytes
                path = self._put_file(self.model_zip_path(model['id'], fmt), content)
                try:
                    db.execute('INSERT INTO model_formats VALUES (?, ?, ?)', (model['id'], fmt, now_iso()))
                except BaseException:
                    path.unlink(missing_ok=True)
                    raise
            return model

    @staticmethod
    def _find_model(db: sqlite3.Connection, org: str, project: str, model_id: str | None, version: str | None,
                    training_number: int | None) -> dict[str, Any] | None:
        if model_id is not None:
            row = db.execute('SELECT * FROM models WHERE org=? AND project=? AND id=?', (org, project, model_id))
        elif version is not None:
            row = db.execute('SELECT * FROM models WHERE org=? AND project=? AND version=?', (org, project, version))
        elif training_number is not None:
            row = db.execute('SELECT * FROM models WHERE org=? AND project=? AND training_number=? '
                             'ORDER BY major DESC, minor DESC', (org, project, training_number))
        else:
            return None
        found = row.fetchone()
        return dict(found) if found else None

    # ---- deployment target and trainings ---------------------------------------------------------------

    def set_target(self, org: str, project: str, model_id: str | None) -> None:
        with self.transaction() as db:
            db.execute('DELETE FROM targets WHERE org=? AND project=?', (org, project))
            if model_id is not None:
                db.execute('INSERT INTO targets VALUES (?, ?, ?)', (org, project, model_id))

    def target(self, org: str, project: str) -> dict[str, Any] | None:
        rows = self._query('SELECT model_id FROM targets WHERE org=? AND project=?', (org, project))
        return self.model(org, project, model_id=rows[0]['model_id']) if rows else None

    def add_training(self, org: str, project: str, number: int, details: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute('INSERT OR REPLACE INTO trainings VALUES (?, ?, ?, ?, ?)',
                       (org, project, number, json.dumps(details), now_iso()))

    def training(self, org: str, project: str, number: int) -> dict[str, Any] | None:
        rows = self._query('SELECT details FROM trainings WHERE org=? AND project=? AND number=?', (org, project, number))
        return json.loads(rows[0]['details']) if rows else None

    def trainings(self) -> list[dict[str, Any]]:
        return [dict(r) | {'details': json.loads(r['details'])}
                for r in self._query('SELECT * FROM trainings ORDER BY org, project, number')]

    def next_training_number(self, org: str, project: str) -> int:
        rows = self._query('SELECT MAX(number) AS n FROM trainings WHERE org=? AND project=?', (org, project))
        rows2 = self._query('SELECT MAX(training_number) AS n FROM models WHERE org=? AND project=?', (org, project))
        return max(rows[0]['n'] or 0, rows2[0]['n'] or 0) + 1

    # ---- received records (statuses, detections, training updates, annotations) -------------------------

    def add_received(self, kind: str, items: list[tuple[str, Any]], org: str = '', project: str = '',
                     keep: int | None = None) -> None:
        """Append (key, payload) records of one kind (all or none); keep only the last `keep` per key if set."""
        with self.transaction() as db:
            for key, payload in items:
                db.execute('INSERT INTO received (kind, org, project, key, payload, received_at) '
                           'VALUES (?, ?, ?, ?, ?, ?)', (kind, org, project, key, json.dumps(payload), now_iso()))
            if keep is not None:
                for key in {key for key, _ in items}:
                    db.execute('DELETE FROM received WHERE kind=? AND key=? AND seq NOT IN '
                               '(SELECT seq FROM received WHERE kind=? AND key=? ORDER BY seq DESC LIMIT ?)',
                               (kind, key, kind, key, keep))

    def received(self, kind: str, key: str | None = None) -> list[dict[str, Any]]:
        sql, args = 'SELECT * FROM received WHERE kind=?', [kind]
        if key is not None:
            sql, args = sql + ' AND key=?', args + [key]
        rows = self._query(sql + ' ORDER BY seq', tuple(args))
        return [{'key': r['key'], 'organization': r['org'], 'project': r['project'],
                 'received_at': r['received_at'], 'payload': json.loads(r['payload'])} for r in rows]

    # ---- login sessions ------------------------------------------------------------------------------

    def add_session(self, cookie: str, user: str) -> None:
        with self.transaction() as db:
            db.execute('INSERT INTO sessions VALUES (?, ?, ?)', (cookie, user, now_iso()))

    def session_user(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        rows = self._query('SELECT user FROM sessions WHERE cookie=?', (cookie,))
        return rows[0]['user'] if rows else None

    def drop_session(self, cookie: str) -> None:
        with self.transaction() as db:
            db.execute('DELETE FROM sessions WHERE cookie=?', (cookie,))
