"""devloop's read-only pages: the dashboard at `/`, a project, its image grid and one image (all GET)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from flask import Blueprint, abort, render_template, request, send_file, url_for
from werkzeug.wrappers import Response

from loopnode.service.pagekit import Drawn, Label, Palette, labels_of, point_radius, shapes_of
from loopnode.service.pagekit.overlay import safe_color

from ..context import DevLoopContext
from ..sockets import SocketHub
from ..store import IMAGE_STATES, Store
from .charts import Chart, confusion_chart
from .nodes import NodeView, latest_by_key, node_views
from .paging import PAGE_SIZE, page_of, parse_page_number
from .thumbs import ThumbnailCache

REFRESH_SECONDS = 5
RECEIVED = 'received'
GRID_STATES = ('all',) + IMAGE_STATES + ('trash', RECEIVED)


@dataclass(frozen=True)
class ImageTile:
    """One image as the grid and the detail page show it (shapes in the image's pixels)."""
    id: str
    state: str
    image_set: str
    width: int
    height: int
    shapes: list[Drawn]
    labels: list[Label]
    tags: list[str]
    source: str | None
    upload_name: str | None
    received_at: str | None
    created: str | None
    metadata: str | None = None


@dataclass(frozen=True)
class Sync:
    """One `update_training` (confusion-matrix sync) of a trainer."""
    received_at: str
    trainer: str
    train_images: Any
    test_images: Any
    best_epoch: Any
    chart: Chart | None
    problem: str | None = None


@dataclass
class ProjectSummary:
    org: str
    project: str
    categories: list[dict[str, Any]]
    counts: dict[str, int]
    received: int
    models: int
    target: str | None
    trainings: int = 0


def shown_categories(store: Store, org: str, project: str) -> list[dict[str, Any]]:
    """Categories with a colour that is safe to put into a style attribute."""
    return [{'id': c.get('id'), 'name': c.get('name'), 'type': c.get('type'),
             'color': safe_color(c.get('color'), str(c.get('name')))} for c in store.categories(org, project)]


def uploaded_ids(store: Store, org: str, project: str) -> list[str]:
    """Ids of the images nodes uploaded to org/project, newest first."""
    rows = [r for r in store.all_uploaded_images() if r['org'] == org and r['project'] == project]
    return [r['id'] for r in reversed(rows)]


def grid_ids(store: Store, org: str, project: str, state: str) -> list[str]:
    if state == RECEIVED:
        return uploaded_ids(store, org, project)
    return store.image_ids(org, project, None if state == 'all' else state)


def image_tile(store: Store, row: Mapping[str, Any], palette: Palette) -> ImageTile:
    """The tile of a stored image row: its annotations, the detections it was uploaded with and the newest
    detections a trainer posted for it."""
    annotations = row['annotations'] if isinstance(row.get('annotations'), Mapping) else {}
    radius = point_radius(row.get('width'), row.get('height'))
    shapes = shapes_of(annotations, palette, radius)
    labels = labels_of(annotations, palette)
    trainer = store.received('detections', row['id'])
    if trainer and isinstance(trainer[-1]['payload'], Mapping):
        shapes += shapes_of(trainer[-1]['payload'], palette, radius)
        labels += labels_of(trainer[-1]['payload'], palette)
    tags = [str(t.get('name')) for t in annotations.get('tags') or [] if isinstance(t, Mapping)]
    source = None
    if row.get('metadata'):
        try:
            meta = json.loads(row['metadata'])
            source = meta.get('source') if isinstance(meta, dict) else None
        except ValueError:
            source = None
    return ImageTile(id=row['id'], state=row['state'], image_set=row['image_set'], width=row['width'],
                     height=row['height'], shapes=shapes, labels=labels, tags=tags,
                     source=None if source is None else str(source), upload_name=row.get('upload_name'),
                     received_at=row.get('received_at'), created=row.get('created'), metadata=row.get('metadata'))


def project_summaries(store: Store) -> list[ProjectSummary]:
    uploads = received_counts(store)
    trainings: dict[tuple[str, str], int] = {}
    for t in store.trainings():
        trainings[(t['org'], t['project'])] = trainings.get((t['org'], t['project']), 0) + 1
    result = []
    for org, project in store.projects():
        target = store.target(org, project)
        result.append(ProjectSummary(org, project, shown_categories(store, org, project),
                                     {s: len(store.image_ids(org, project, s)) for s in IMAGE_STATES},
                                     uploads.get((org, project), 0), len(store.models(org, project)),
                                     None if target is None else target['version'],
                                     trainings.get((org, project), 0)))
    return result


def received_counts(store: Store) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for row in store.all_uploaded_images():
        counts[(row['org'], row['project'])] = counts.get((row['org'], row['project']), 0) + 1
    return counts


def all_node_views(store: Store, hub: SocketHub) -> list[NodeView]:
    statuses = {kind: latest_by_key(store.received(kind)) for kind in ('trainer_status', 'annotator_status')}
    return node_views(hub.nodes(), statuses, latest_by_key(store.received('detector_status')),
                      received_counts(store), datetime.now(timezone.utc))


def project_syncs(store: Store, org: str, project: str, palette: Palette) -> list[Sync]:
    """The project's confusion-matrix syncs, newest first."""
    syncs = []
    for record in store.received('training_update'):
        if record['organization'] != org or record['project'] != project:
            continue
        entry = record['payload'] if isinstance(record['payload'], Mapping) else {}
        out = entry.get('payload') if isinstance(entry.get('payload'), Mapping) else {}
        syncs.append(Sync(received_at=record['received_at'],
                          trainer=str(out.get('trainer_name') or out.get('trainer_id') or record['key']),
                          train_images=out.get('train_image_count'), test_images=out.get('test_image_count'),
                          best_epoch=out.get('best_epoch'), chart=confusion_chart(out.get('confusion_matrix'), palette),
                          problem=entry.get('problem')))
    return list(reversed(syncs))


def flash_args() -> dict[str, Any]:
    """The message a form's redirect carries in `?msg=` (shown escaped), `?error=1` marks it as an error."""
    return {'flash': request.args.get('msg'), 'flash_error': request.args.get('error') == '1'}


def register_views(bp: Blueprint, ctx: DevLoopContext, hub: SocketHub) -> None:
    store = ctx.store
    thumbs = ThumbnailCache(store.image_path, store.root / 'thumbs')

    def require_project(org: str, project: str) -> None:
        if not store.has_project(org, project):
            abort(404, f'unknown project {org}/{project}')

    def image_row(org: str, project: str, image_id: str) -> dict[str, Any]:
        rows = store.image_rows(org, project, [image_id])
        if not rows or not store.image_path(image_id).exists():
            abort(404, f'unknown image {image_id}')
        return rows[0]

    @bp.get('/')
    def dashboard() -> str:
        """Projects and nodes; reloads itself every REFRESH_SECONDS unless `?refresh=0`."""
        nodes = all_node_views(store, hub)
        refresh = request.args.get('refresh') != '0'
        here = url_for('pages.dashboard') if refresh else url_for('pages.dashboard', refresh=0)
        return render_template('devloop_pages/dashboard.html', projects=project_summaries(store), nodes=nodes,
                               project_choices=store.projects(), refresh_seconds=REFRESH_SECONDS if refresh else 0,
                               here=here, **flash_args())

    @bp.get('/ui/<org>/<project>/')
    def project_page(org: str, project: str) -> str:
        require_project(org, project)
        categories = store.categories(org, project)
        palette = Palette(categories)
        target = store.target(org, project)
        trainings = [t for t in store.trainings() if t['org'] == org and t['project'] == project]
        uploads = [u for u in store.received('model_upload') if u['organization'] == org and u['project'] == project]
        trainers = [n for n in all_node_views(store, hub) if n.node_type == 'trainer']
        return render_template('devloop_pages/project.html', org=org, project=project,
                               categories=shown_categories(store, org, project),
                               models=list(reversed(store.models(org, project))),
                               target=target, trainings=list(reversed(trainings)), model_uploads=uploads,
                               syncs=project_syncs(store, org, project, palette), trainers=trainers,
                               counts={s: len(store.image_ids(org, project, s)) for s in IMAGE_STATES},
                               received=len(uploaded_ids(store, org, project)), **flash_args())

    @bp.get('/ui/<org>/<project>/images')
    def image_grid(org: str, project: str) -> str:
        require_project(org, project)
        state = request.args.get('state') or 'all'
        if state not in GRID_STATES:
            abort(404, f'unknown state {state}: expected one of {", ".join(GRID_STATES)}')
        ids = grid_ids(store, org, project, state)
        page = page_of(len(ids), parse_page_number(request.args.get('page')), PAGE_SIZE)
        shown = ids[page.start:page.stop]
        rows = {row['id']: row for row in store.image_rows(org, project, shown)} if shown else {}
        palette = Palette(store.categories(org, project))
        tiles = [image_tile(store, rows[i], palette) for i in shown if i in rows]
        return render_template('devloop_pages/images.html', org=org, project=project, state=state,
                               states=GRID_STATES, tiles=tiles, page=page,
                               categories=shown_categories(store, org, project))

    @bp.get('/ui/<org>/<project>/images/<image_id>')
    def image_page(org: str, project: str, image_id: str) -> str:
        require_project(org, project)
        tile = image_tile(store, image_row(org, project, image_id), Palette(store.categories(org, project)))
        return render_template('devloop_pages/image.html', org=org, project=project, tile=tile,
                               categories=shown_categories(store, org, project))

    @bp.get('/ui/<org>/<project>/images/<image_id>/main.jpg')
    def image_file(org: str, project: str, image_id: str) -> Response:
        image_row(org, project, image_id)
        return send_file(store.image_path(image_id), mimetype='image/jpeg', max_age=3600)

    @bp.get('/ui/<org>/<project>/images/<image_id>/thumb.jpg')
    def image_thumb(org: str, project: str, image_id: str) -> Response:
        image_row(org, project, image_id)
        try:
            path = thumbs.path(image_id)
        except FileNotFoundError:
            abort(404, f'unknown image {image_id}')
        return send_file(path, mimetype='image/jpeg', max_age=3600)

    @bp.app_template_global()
    def grid_url(org: str, project: str, state: str = 'all', page: int = 1) -> str:
        return url_for('pages.image_grid', org=org, project=project, state=state, page=page)
