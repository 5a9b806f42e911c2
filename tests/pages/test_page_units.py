"""Pure parts of the pages (issue 15): overlay shapes, colours, pagination, the confusion chart, node cards."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from loopnode.devloop.pages.charts import confusion_chart
from loopnode.devloop.pages.nodes import age_seconds, latest_by_key, node_views
from loopnode.devloop.pages.paging import page_of, parse_page_number
from loopnode.devloop.pages.thumbs import ThumbnailCache
from loopnode.service.pagekit import Palette, labels_of, point_radius, shapes_of
from loopnode.service.pagekit.overlay import fallback_color, polygon_points, safe_color

CATEGORIES = [{'id': 'b', 'name': 'box cat', 'color': '#FF0000'}, {'id': 'p', 'name': 'point cat', 'color': 'nope'}]


def test_shapes_of_annotations_and_detections_keep_image_pixels_and_category_colours() -> None:
    """Boxes, points and polygons in image pixels; colour by id, else by name, else a stable fallback."""
    record = {'box_annotations': [{'category_id': 'b', 'x': 1, 'y': 2, 'width': 3, 'height': 4}],
              'point_annotations': [{'category_id': 'p', 'x': 5.5, 'y': 6}],
              'box_detections': [{'category_name': 'box cat', 'x': 10, 'y': 20, 'width': 30, 'height': 40,
                                  'confidence': 0.875}],
              'segmentation_detections': [{'category_name': 'seg', 'shape': '1,2,3,4,5,6', 'confidence': 0.5},
                                          {'category_name': 'seg', 'shape': {'points': [{'x': 1, 'y': 1},
                                                                                        {'x': 9, 'y': 1}]}}],
              'point_detections': [{'category_name': 'x', 'x': 'bad', 'y': 1, 'confidence': 1.0}, 'junk']}
    shapes = shapes_of(record, Palette(CATEGORIES), 4.0)
    assert [(s.kind, s.source) for s in shapes] == [('box', 'annotation'), ('point', 'annotation'),
                                                    ('box', 'detection'), ('polygon', 'detection'),
                                                    ('polygon', 'detection')]
    box, point, detected, polygon, flat_less = shapes
    assert (box.x, box.y, box.width, box.height, box.color, box.category) == (1, 2, 3, 4, '#FF0000', 'box cat')
    assert (point.x, point.y, point.radius, point.color) == (5.5, 6, 4.0, fallback_color('point cat'))
    assert detected.color == '#FF0000' and detected.title == 'box cat 88% (detection)'
    assert polygon.points == '1,2 3,4 5,6' and flat_less.points == '1,1 9,1'
    assert box.title == 'box cat (annotation)'


def test_polygon_points_refuse_malformed_shapes_and_colours_refuse_css() -> None:
    assert polygon_points('1,2,3') == '' and polygon_points('a,b,c,d') == '' and polygon_points('1,2') == ''
    assert polygon_points({'points': [{'x': 1}]}) == '' and polygon_points(None) == ''
    assert safe_color('#abc', 'n') == '#abc' and safe_color(' #A1B2C3 ', 'n') == '#A1B2C3'
    assert safe_color('red;background:url(x)', 'n') == fallback_color('n') == fallback_color('n')
    assert point_radius(640, 480) == 8.0 and point_radius(64, 48) == 3.0 and point_radius(None, 'x') == 3.0


def test_labels_of_classifications() -> None:
    record = {'classification_annotation': {'category_id': 'b'},
              'classification_detections': [{'category_name': 'c', 'confidence': 0.25}]}
    labels = labels_of(record, Palette(CATEGORIES))
    assert [(x.source, x.category, x.confidence) for x in labels] == [('annotation', 'box cat', None),
                                                                      ('detection', 'c', 0.25)]


def test_pages_clamp_and_the_pager_shows_gaps() -> None:
    """50 a page: the slice of each page, clamping of numbers out of range, pager links with gaps."""
    assert parse_page_number('3') == 3 and parse_page_number('x') == 1 and parse_page_number('-4') == 1
    page = page_of(5000, 1)
    assert (page.pages, page.start, page.stop, page.previous, page.next) == (100, 0, 50, None, 2)
    assert page.links() == [1, 2, 3, 4, None, 100]
    last = page_of(5000, 999)
    assert (last.number, last.start, last.stop) == (100, 4950, 5000)
    assert page_of(5000, 50).links() == [1, None, 47, 48, 49, 50, 51, 52, 53, None, 100]
    empty = page_of(0, 5)
    assert (empty.number, empty.pages, empty.start, empty.stop, empty.links()) == (1, 1, 0, 0, [1])
    assert page_of(120, 3).stop - page_of(120, 3).start == 20


def test_confusion_chart_scales_bars_and_computes_precision_recall() -> None:
    chart = confusion_chart({'b': {'tp': 8, 'fp': 2, 'fn': 0}, 'zzz': {'tp': 0, 'fp': 0, 'fn': 0}, 'bad': 3},
                            Palette(CATEGORIES))
    assert chart is not None and len(chart.groups) == 2
    first, second = chart.groups
    assert [(b.kind, b.value, b.height) for b in first.bars] == [('tp', 8, 80.0), ('fp', 2, 20.0), ('fn', 0, 0.0)]
    assert first.bars[0].y == 0 and first.precision == 0.8 and first.recall == 1.0
    assert first.title == 'box cat: tp 8 · fp 2 · fn 0 (precision 80%, recall 100%)'
    assert second.precision is None and second.name == 'zzz'
    assert confusion_chart(None, Palette([])) is None and confusion_chart({}, Palette([])) is None


def test_node_cards_from_hub_nodes_and_received_statuses() -> None:
    """Trainer state/progress/errors, annotator capabilities, detector model and status age."""
    now = datetime(2026, 1, 1, 12, 0, 10, tzinfo=timezone.utc)
    stamp = (now - timedelta(seconds=10)).isoformat()
    sockets = [{'sid': 's1', 'node_type': 'trainer', 'organization': 'o', 'project': 'p', 'uuid': 't1',
                'name': 'T', 'connected_since': stamp, 'last_event': 'update_trainer',
                'last_status': {'state': 'running', 'progress': 0.5, 'errors': {'k': 'v'}, 'architecture': 'a',
                                'context': {'organization': 'o', 'project': 'p'}}},
               {'sid': 's2', 'node_type': 'annotator', 'organization': 'o', 'project': 'p', 'uuid': None,
                'name': None, 'connected_since': stamp, 'last_status': {'capabilities': ['segmentation']}}]
    statuses = {'trainer_status': latest_by_key([{'key': 't1', 'received_at': 'old'},
                                                 {'key': 't1', 'received_at': stamp}])}
    detectors = {'d1': {'key': 'd1', 'organization': 'o', 'project': 'p', 'received_at': stamp,
                        'payload': {'name': 'D', 'current_model': '1.1', 'errors': {'outbox': 'full'}}}}
    cards = node_views(sockets, statuses, detectors, {('o', 'p'): 7}, now)
    annotator, trainer, detector = cards
    assert trainer.is_trainer and trainer.state == 'running' and trainer.progress == 0.5
    assert trainer.status_at == stamp and trainer.status_age == 10.0 and trainer.errors == {'k': 'v'}
    assert ('training of', 'o/p') in trainer.facts
    assert annotator.name == 's2' and ('capabilities', 'segmentation') in annotator.facts
    assert annotator.status_at is None and not annotator.is_trainer
    assert detector.connected is None and ('model', '1.1') in detector.facts
    assert ('images received', '7') in detector.facts and detector.errors == {'outbox': 'full'}
    assert age_seconds('not a date', now) is None and age_seconds(None, now) is None


def test_thumbnail_is_made_once_and_again_for_a_replaced_image(tmp_path: Path) -> None:
    """Issue 15: thumbnails are generated once and cached; a replaced source file gets a fresh one."""
    source = tmp_path / 'images' / 'a.jpg'
    source.parent.mkdir()
    Image.new('RGB', (640, 480), (10, 200, 10)).save(source, 'JPEG')
    cache = ThumbnailCache(lambda image_id: tmp_path / 'images' / f'{image_id}.jpg', tmp_path / 'thumbs')
    first = cache.path('a')
    stamp = first.stat().st_mtime_ns
    assert cache.path('a') == first and first.stat().st_mtime_ns == stamp
    with Image.open(first) as thumb:
        assert thumb.size == (320, 240)
    Image.new('RGB', (100, 50), (200, 10, 10)).save(source, 'JPEG')
    os.utime(source, ns=(stamp + 10**9, stamp + 10**9))
    second = cache.path('a')
    assert second != first
    with Image.open(second) as thumb:
        assert thumb.size == (100, 50)
    assert not list((tmp_path / 'thumbs').glob('.*.part'))
    with pytest.raises(FileNotFoundError):
        cache.path('missing')
