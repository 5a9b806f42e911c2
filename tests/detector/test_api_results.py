"""Pure API rules (loopnode.detector.results): parameters, §4.3 normalisation on a copy, §3.4 upload metadata."""
from __future__ import annotations

import copy
from datetime import datetime

import numpy as np
import pytest

from loopnode.data import (BoxDetection, Category, ClassificationDetection, ImageMetadata, ModelInformation, Point,
                           PointDetection, SegmentationDetection, Shape)
from loopnode.detector.results import (ParameterError, ResultError, detect_params, local_created, normalised_copy,
                                       parse_autoupload, parse_bool, parse_creation_date, parse_tags,
                                       plain_upload_metadata, upload_metadata, with_shape_objects)

NOW = datetime(2025, 6, 1, 10, 0, 0, 123456)
MODEL = ModelInformation(id='m', organization='o', project='p', version='1.1', categories=[
    Category(id='id-weed', name='weed'), Category(id='id-crop', name='crop'), Category(id='id-dup', name='weed')])


def test_tags_are_trimmed_and_empty_ones_dropped() -> None:
    """F2: " a, ,b " → ["a", "b"]."""
    assert parse_tags(' a, ,b ') == ('a', 'b')
    assert parse_tags(['x ', '', ' y']) == ('x', 'y')
    assert parse_tags(None) == () and parse_tags('') == ()
    with pytest.raises(ParameterError, match='tags must be'):
        parse_tags(5)
    with pytest.raises(ParameterError, match='tags must be strings'):
        parse_tags(['a', 3])


def test_autoupload_values() -> None:
    """F3: anything but filtered/all/disabled is an error naming the allowed values."""
    assert parse_autoupload(None) == 'filtered'
    assert [parse_autoupload(v) for v in ('filtered', 'all', 'disabled')] == ['filtered', 'all', 'disabled']
    with pytest.raises(ParameterError) as caught:
        parse_autoupload('maybe')
    assert str(caught.value) == "invalid autoupload value 'maybe' (allowed: filtered, all, disabled)"
    with pytest.raises(ParameterError):
        parse_autoupload('ALL')


@pytest.mark.parametrize('text', ['2025-06-01T10:00:00', '2025-06-01 10:00:00', '2025-06-01_10:00:00.123',
                                  '2025-06-01', '2025-06-01T10:00:00+02:00', '2025-06-01T10:00:00Z'])
def test_creation_date_accepts_iso_with_any_separator_and_is_kept_verbatim(text: str) -> None:
    assert parse_creation_date(text) == text


@pytest.mark.parametrize('text', ['yesterday', '2025-13-01T00:00:00', '2025-06-01T25:00', '', 5, '06/01/2025'])
def test_creation_date_rejects_everything_else(text: object) -> None:
    with pytest.raises(ParameterError, match='invalid creation_date'):
        parse_creation_date(text)


def test_camera_id_precedence_and_the_created_alias() -> None:
    params = {'camera_id': 'a', 'camera-id': 'b', 'mac': 'c'}
    assert detect_params(params.get).camera_id == 'a'
    assert detect_params({'camera-id': 'b', 'mac': 'c'}.get).camera_id == 'b'
    assert detect_params({'mac': 'c'}.get).camera_id == 'c'
    assert detect_params({}.get).camera_id is None
    sio = {'created': '2025-06-01T10:00:00', 'tags': None, 'source': 'robot'}
    parsed = detect_params(sio.get, created_alias=True)
    assert parsed.created == '2025-06-01T10:00:00' and parsed.tags == () and parsed.source == 'robot'
    assert detect_params(sio.get).created is None
    with pytest.raises(ParameterError, match='source must be a string'):
        detect_params({'source': 3}.get)


def test_bool_parameter() -> None:
    assert parse_bool('upload_priority', 'TRUE') and parse_bool('upload_priority', 'yes')
    assert not parse_bool('upload_priority', '0') and not parse_bool('upload_priority', None)
    assert parse_bool('upload_priority', True)
    with pytest.raises(ParameterError, match='invalid upload_priority'):
        parse_bool('upload_priority', 'maybe')


def logic_result() -> ImageMetadata:
    return ImageMetadata(
        box_detections=[BoxDetection(category_name='weed', x=np.float32(1.6), y=np.int64(2), width=3.0,  # type: ignore[arg-type]
                                     height=4, model_name='1.1', confidence=np.float32(0.5), category_id='w')],
        point_detections=[PointDetection(category_name='crop', x=np.float64(1.5), y=2, model_name='1.1',  # type: ignore[arg-type]
                                         confidence=1, category_id=None)],
        segmentation_detections=[SegmentationDetection(category_name='soil', shape=Shape(points=[
            Point(x=1, y=2), Point(x=np.int32(3), y=4)]), model_name='1.1', confidence=0.7)],  # type: ignore[arg-type]
        classification_detections=[ClassificationDetection(category_name='c', model_name='1.1',
                                                           confidence=np.float16(0.25))],  # type: ignore[arg-type]
        tags=['logic'])


def test_normalisation_works_on_a_copy_and_gives_plain_python_values() -> None:
    """§4.3 and F10: numpy scalars → Python, box floats rounded, shapes flattened, logic object unchanged."""
    result = logic_result()
    before = copy.deepcopy(result)
    for _ in range(3):
        metadata, rounded = normalised_copy(result, ('cam',), '2025-06-01', 'robot')
    assert result == before and rounded
    d = metadata.to_dict()
    box = d['box_detections'][0]
    assert (box['x'], box['y'], box['width'], box['height']) == (2, 2, 3, 4)
    assert all(type(box[k]) is int for k in ('x', 'y', 'width', 'height')) and type(box['confidence']) is float
    point = d['point_detections'][0]
    assert type(point['x']) is float and type(point['y']) is float and type(point['confidence']) is float
    assert d['segmentation_detections'][0]['shape'] == '1,2,3,4'
    assert type(d['classification_detections'][0]['confidence']) is float
    assert d['tags'] == ['logic', 'cam'] and d['created'] == '2025-06-01' and d['source'] == 'robot'
    assert d['state'] is None
    assert list(d) == ['box_detections', 'point_detections', 'segmentation_detections', 'classification_detections',
                       'box_annotations', 'point_annotations', 'classification_annotation', 'tags', 'created',
                       'source', 'state']


def test_integral_results_are_not_reported_as_rounded_and_strings_stay() -> None:
    result = ImageMetadata(box_detections=[BoxDetection(category_name='a', x=1, y=2, width=3.0, height=4,  # type: ignore[arg-type]
                                                        model_name='m', confidence=1)],
                           segmentation_detections=[SegmentationDetection(category_name='s', shape='1,2,3,4',
                                                                          model_name='m', confidence=0.5)])
    metadata, rounded = normalised_copy(result)
    assert not rounded and metadata.segmentation_detections[0].shape == '1,2,3,4'


def test_a_result_that_is_not_image_metadata_is_refused() -> None:
    with pytest.raises(ResultError, match='evaluate returned dict, not an ImageMetadata'):
        normalised_copy({'box_detections': []})


def test_upload_metadata_rules() -> None:
    """F23 (unit): creation_date alias, state kept, float points rounded, category ids filled everywhere."""
    raw = {'creation_date': '2025-06-01T10:00:00', 'state': 'trash', 'unknown_key': 1, 'tags': ['x'],
           'box_detections': [{'category_name': 'weed', 'x': 1.4, 'y': 2.6, 'width': 3, 'height': 4,
                               'model_name': 'm', 'confidence': 0.4, 'category_id': 'client'}],
           'segmentation_detections': [{'category_name': 'crop', 'shape': {'points': [{'x': 1.5, 'y': 2.4}]},
                                        'model_name': 'm', 'confidence': 0.5}],
           'box_annotations': [{'category_name': 'crop', 'x': 0, 'y': 0, 'width': 1, 'height': 1}],
           'point_annotations': [{'category_name': 'bug', 'x': 1.5, 'y': 2, 'category_id': 'mine'}],
           'classification_annotation': {'category_name': 'ghost'}}
    parsed = upload_metadata(raw, MODEL, NOW)
    md = parsed.metadata
    assert md.created == '2025-06-01T10:00:00' and md.state == 'trash'
    assert md.tags == ['x', 'picked_by_system']
    assert (md.box_detections[0].x, md.box_detections[0].y) == (1, 3)
    assert md.box_detections[0].category_id == 'id-weed'  # first exact match wins over the client's id
    assert md.segmentation_detections[0].shape.to_dict() == {'points': [{'x': 2, 'y': 2}]}  # type: ignore[union-attr]
    assert md.segmentation_detections[0].category_id == 'id-crop'
    assert md.box_annotations[0].category_id == 'id-crop'
    assert md.point_annotations[0].category_id == 'mine'  # unknown name: the client's id is kept
    assert md.classification_annotation is not None and md.classification_annotation.category_id == ''
    assert parsed.unknown_keys == ['unknown_key']
    assert len(parsed.warnings) == 1 and 'bug, ghost' in parsed.warnings[0] and 'weed, crop' in parsed.warnings[0]


def test_upload_metadata_defaults_and_errors() -> None:
    parsed = upload_metadata(None, None, NOW)
    assert parsed.metadata.created == '2025-06-01_10:00:00.123' == local_created(NOW)
    assert parsed.metadata.tags == ['picked_by_system'] and parsed.warnings == []
    both = upload_metadata({'created': 'A', 'creation_date': 'B', 'tags': ['picked_by_system']}, None, NOW).metadata
    assert both.created == 'A' and both.tags == ['picked_by_system']
    no_model = upload_metadata({'box_annotations': [{'category_name': 'a', 'x': 0, 'y': 0, 'width': 1, 'height': 1,
                                                     'category_id': 'keep'}]}, None, NOW)
    assert no_model.metadata.box_annotations[0].category_id == 'keep' and 'no model is active' in no_model.warnings[0]
    with pytest.raises(ParameterError, match='invalid metadata: box_detections'):
        upload_metadata({'box_detections': [{'x': 1}]}, MODEL, NOW)
    with pytest.raises(ParameterError, match='invalid metadata: expected an ImageMetadata dict'):
        upload_metadata([1], MODEL, NOW)


def test_plain_upload_metadata() -> None:
    md = plain_upload_metadata(source='s', created=None, state='trash', tags=('a', 'picked_by_system'))
    assert md.to_dict()['tags'] == ['a', 'picked_by_system'] and md.state == 'trash' and md.created is None


def test_with_shape_objects_turns_flat_shapes_into_points_and_copies() -> None:
    """The Socket.IO answer form: flat strings become Shape objects; other keys, order and the input stay."""
    answer = {'box_detections': [], 'segmentation_detections': [
        {'category_name': 'a', 'shape': '1,2,3,4', 'model_name': 'm', 'confidence': 0.5, 'category_id': 'c'},
        {'category_name': 'b', 'shape': {'points': [{'x': 5, 'y': 6}]}, 'model_name': 'm', 'confidence': 0.5,
         'category_id': None},
        {'category_name': 'c', 'shape': 'not,coordinates,x', 'model_name': 'm', 'confidence': 0.5,
         'category_id': None},
        {'category_name': 'd', 'shape': '', 'model_name': 'm', 'confidence': 0.5, 'category_id': None}],
        'tags': []}
    converted = with_shape_objects(answer)
    shapes = [d['shape'] for d in converted['segmentation_detections']]
    assert shapes == [{'points': [{'x': 1, 'y': 2}, {'x': 3, 'y': 4}]}, {'points': [{'x': 5, 'y': 6}]},
                      'not,coordinates,x', {'points': []}]
    assert list(converted['segmentation_detections'][0]) == ['category_name', 'shape', 'model_name', 'confidence',
                                                             'category_id']
    assert answer['segmentation_detections'][0]['shape'] == '1,2,3,4' and list(converted) == list(answer)
    assert with_shape_objects({'segmentation_detections': []}) == {'segmentation_detections': []}
