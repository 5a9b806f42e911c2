"""Unit tests of the relevance filter (detector.md §10): causes, history, aging, ordering, thread safety."""
from __future__ import annotations

import copy
import threading
from typing import Any

import pytest

from loopnode.data import (BoxDetection, ClassificationDetection, ImageMetadata, PointDetection,
                           SegmentationDetection)
from loopnode.detector.relevance import (SEGMENTATION_DETECTION, UNCERTAIN, UNEXPECTED_OBSERVATIONS_COUNT,
                                         RelevanceFilter, box_iou, point_distance)

CAMERA = 'cam-1'


def make_filter(max_age_s: float = 3600.0) -> RelevanceFilter:
    """A filter with the default thresholds 0.3 .. 0.6."""
    return RelevanceFilter(min_uncertain=0.3, max_uncertain=0.6, max_age_s=max_age_s)


def box(x: int, y: int, conf: float = 0.9, name: str = 'weed', width: int = 30, height: int = 30) -> BoxDetection:
    return BoxDetection(category_name=name, x=x, y=y, width=width, height=height, model_name='1.1',
                        confidence=conf, category_id='weed-id')


def point(x: float, y: float, conf: float = 0.9, name: str = 'crop') -> PointDetection:
    return PointDetection(category_name=name, x=x, y=y, model_name='1.1', confidence=conf, category_id='crop-id')


def segmentation(conf: float = 0.9) -> SegmentationDetection:
    return SegmentationDetection(category_name='soil', shape='10,10,60,10,60,40', model_name='1.1',
                                 confidence=conf, category_id='soil-id')


def classification(conf: float) -> ClassificationDetection:
    return ClassificationDetection(category_name='field', model_name='1.1', confidence=conf, category_id='field-id')


def image(boxes: list[BoxDetection] | None = None, points: list[PointDetection] | None = None,
          segmentations: list[SegmentationDetection] | None = None,
          classifications: list[ClassificationDetection] | None = None) -> ImageMetadata:
    return ImageMetadata(box_detections=boxes or [], point_detections=points or [],
                         segmentation_detections=segmentations or [],
                         classification_detections=classifications or [])


def box_dict(x: int, y: int, conf: float, name: str = 'dirt') -> dict[str, Any]:
    return {'category_name': name, 'x': x, 'y': y, 'width': 37, 'height': 24, 'model_name': 'weights_7',
            'confidence': conf, 'category_id': f'{name}-id'}


# --- geometry -------------------------------------------------------------------------------------------------


def test_box_iou_half_and_zero() -> None:
    """D12: IoU of (10,0,30,100) and (20,0,30,100) is exactly 0.5; with (0,30,10,10) it is 0.0."""
    assert box_iou((10, 0, 30, 100), (20, 0, 30, 100)) == 0.5
    assert box_iou((10, 0, 30, 100), (0, 30, 10, 10)) == 0.0


def test_box_iou_identical_touching_and_empty() -> None:
    """Identical boxes give 1, boxes that only touch give 0, two empty boxes (empty union) give 0."""
    assert box_iou((5, 5, 20, 10), (5, 5, 20, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0
    assert box_iou((3, 3, 0, 0), (3, 3, 0, 0)) == 0.0
    assert box_iou((0, 0, 10, 10), (2, 2, 0, 0)) == 0.0


def test_box_iou_contained_box() -> None:
    """A 10x10 box inside a 20x20 box: IoU = 100 / 400."""
    assert box_iou((0, 0, 20, 20), (5, 5, 10, 10)) == pytest.approx(0.25)


def test_point_distance_is_euclidean() -> None:
    assert point_distance((100, 100), (103, 104)) == 5.0
    assert point_distance((0, 0), (0, 0)) == 0.0


# --- boxes ----------------------------------------------------------------------------------------------------


def test_uncertain_box_then_same_place_suppressed() -> None:
    """D13: conf 0.30 -> ['uncertain'], 1 stored; same box -> [], still 1; conf 0.29 and 0.61 at that place -> [];
    a second, non-overlapping box -> 2 stored."""
    relevance = make_filter()
    assert relevance.causes(image([box(10, 10, conf=0.30)]), CAMERA, now=0.0) == [UNCERTAIN]
    assert relevance.observation_count(CAMERA) == 1
    assert relevance.causes(image([box(10, 10, conf=0.30)]), CAMERA, now=1.0) == []
    assert relevance.observation_count(CAMERA) == 1
    assert relevance.causes(image([box(10, 10, conf=0.29)]), CAMERA, now=2.0) == []
    assert relevance.causes(image([box(10, 10, conf=0.61)]), CAMERA, now=3.0) == []
    assert relevance.observation_count(CAMERA) == 1
    relevance.causes(image([box(500, 500, conf=0.30)]), CAMERA, now=4.0)
    assert relevance.observation_count(CAMERA) == 2


def test_thresholds_are_inclusive_on_both_ends() -> None:
    """§10: MIN <= confidence <= MAX is uncertain; just outside is not (but is still stored)."""
    relevance = make_filter()
    assert relevance.causes(image([box(0, 0, conf=0.3)]), CAMERA, now=0.0) == [UNCERTAIN]
    assert relevance.causes(image([box(100, 0, conf=0.6)]), CAMERA, now=0.0) == [UNCERTAIN]
    assert relevance.causes(image([box(200, 0, conf=0.2999)]), CAMERA, now=0.0) == []
    assert relevance.causes(image([box(300, 0, conf=0.6001)]), CAMERA, now=0.0) == []
    assert relevance.observation_count(CAMERA) == 4


def test_confident_box_suppresses_later_uncertain_one() -> None:
    """§10: confident detections are stored too, so an uncertain one at that spot later gives no cause."""
    relevance = make_filter()
    assert relevance.causes(image([box(10, 10, conf=0.95)]), CAMERA, now=0.0) == []
    assert relevance.causes(image([box(12, 11, conf=0.4)]), CAMERA, now=1.0) == []
    assert relevance.observation_count(CAMERA) == 1


def test_box_similarity_needs_same_category_and_iou_at_least_half() -> None:
    """§10: another category at the same place, or IoU below 0.5, is a new observation; IoU exactly 0.5 is similar."""
    relevance = make_filter()
    relevance.causes(image([BoxDetection(category_name='weed', x=10, y=0, width=30, height=100, model_name='m',
                                         confidence=0.4, category_id=None)]), CAMERA, now=0.0)
    exactly_half = BoxDetection(category_name='weed', x=20, y=0, width=30, height=100, model_name='m',
                                confidence=0.4, category_id=None)
    assert relevance.causes(image([exactly_half]), CAMERA, now=1.0) == []
    assert relevance.observation_count(CAMERA) == 1
    assert relevance.causes(image([box(10, 0, conf=0.4, name='stone', width=30, height=100)]), CAMERA, 2.0) \
        == [UNCERTAIN]
    below_half = BoxDetection(category_name='weed', x=40, y=0, width=30, height=100, model_name='m',
                              confidence=0.4, category_id=None)
    assert relevance.causes(image([below_half]), CAMERA, now=3.0) == [UNCERTAIN]
    assert relevance.observation_count(CAMERA) == 3


def test_duplicates_inside_one_image_are_suppressed() -> None:
    """§10: a detection is compared with those stored just before it, so one image's duplicates count once."""
    relevance = make_filter()
    causes = relevance.causes(image([box(10, 10, conf=0.4), box(11, 10, conf=0.5)]), CAMERA, now=0.0)
    assert causes == [UNCERTAIN]
    assert relevance.observation_count(CAMERA) == 1


def test_three_boxes_from_dicts_give_one_uncertain() -> None:
    """D14: 3 boxes parsed from dicts (conf 0.3/0.35/0.2) give exactly ['uncertain']."""
    metadata = ImageMetadata.from_dict({
        'box_detections': [box_dict(1366, 1017, 0.3), box_dict(1923, 759, 0.35), box_dict(0, 0, 0.2, 'stone')],
        'point_detections': [], 'segmentation_detections': [], 'classification_detections': []})
    relevance = make_filter()
    assert relevance.causes(metadata, CAMERA, now=0.0) == [UNCERTAIN]
    assert relevance.observation_count(CAMERA) == 3


# --- segmentations and classifications ------------------------------------------------------------------------


def test_segmentation_with_dict_shape_from_dict() -> None:
    """D14: a segmentation with a dict shape gives ['segmentation_detection']."""
    metadata = ImageMetadata.from_dict({'segmentation_detections': [{
        'category_name': 'soil', 'model_name': 'weights_7', 'confidence': 0.9, 'category_id': 'soil-id',
        'shape': {'points': [{'x': 1, 'y': 1}, {'x': 50, 'y': 1}, {'x': 50, 'y': 40}]}}]})
    assert make_filter().causes(metadata, CAMERA, now=0.0) == [SEGMENTATION_DETECTION]


def test_near_identical_segmentations_each_give_a_cause() -> None:
    """D14: two near-identical segmentations each give ['segmentation_detection'] (no history, no dedup)."""
    relevance = make_filter()
    first = image(segmentations=[SegmentationDetection(category_name='soil', shape='10,10,60,10,60,40',
                                                       model_name='1.1', confidence=0.9, category_id='s')])
    second = image(segmentations=[SegmentationDetection(category_name='soil', shape='10,11,60,10,60,40',
                                                        model_name='1.1', confidence=0.9, category_id='s')])
    assert relevance.causes(first, CAMERA, now=0.0) == [SEGMENTATION_DETECTION]
    assert relevance.causes(second, CAMERA, now=1.0) == [SEGMENTATION_DETECTION]
    assert relevance.observation_count(CAMERA) == 0


def test_classification_uncertain_without_history() -> None:
    """§10: a classification in [MIN, MAX] gives 'uncertain' every time (no history); a confident one gives none."""
    relevance = make_filter()
    assert relevance.causes(image(classifications=[classification(0.5)]), CAMERA, now=0.0) == [UNCERTAIN]
    assert relevance.causes(image(classifications=[classification(0.5)]), CAMERA, now=1.0) == [UNCERTAIN]
    assert relevance.causes(image(classifications=[classification(0.9)]), CAMERA, now=2.0) == []
    assert relevance.observation_count(CAMERA) == 0


# --- points ---------------------------------------------------------------------------------------------------


def test_points_closer_than_ten_px_are_similar() -> None:
    """D15: point (100,100) conf 0.3 -> 'uncertain'; (104,98) -> [], still 1 stored."""
    relevance = make_filter()
    assert relevance.causes(image(points=[point(100, 100, conf=0.3)]), CAMERA, now=0.0) == [UNCERTAIN]
    assert relevance.causes(image(points=[point(104, 98, conf=0.3)]), CAMERA, now=1.0) == []
    assert relevance.observation_count(CAMERA) == 1


def test_point_at_exactly_ten_px_or_other_category_is_new() -> None:
    """§10: similarity needs distance strictly below 10 px and the same category."""
    relevance = make_filter()
    relevance.causes(image(points=[point(100, 100, conf=0.3)]), CAMERA, now=0.0)
    assert relevance.causes(image(points=[point(106, 108, conf=0.3)]), CAMERA, now=1.0) == [UNCERTAIN]
    assert relevance.causes(image(points=[point(100, 100, conf=0.3, name='weed')]), CAMERA, now=2.0) == [UNCERTAIN]
    assert relevance.observation_count(CAMERA) == 3


def test_boxes_and_points_do_not_suppress_each_other() -> None:
    """A point never matches a box observation (and vice versa), even with the same category and place."""
    relevance = make_filter()
    relevance.causes(image([box(100, 100, conf=0.4, name='weed')]), CAMERA, now=0.0)
    assert relevance.causes(image(points=[point(100, 100, conf=0.4, name='weed')]), CAMERA, 1.0) == [UNCERTAIN]
    assert relevance.observation_count(CAMERA) == 2


# --- counts and ordering --------------------------------------------------------------------------------------


def spread_boxes(n: int, conf: float) -> list[BoxDetection]:
    return [box(i * 50, 0, conf=conf) for i in range(n)]


def spread_points(n: int, conf: float) -> list[PointDetection]:
    return [point(i * 50.0, 500.0, conf=conf) for i in range(n)]


@pytest.mark.parametrize(('boxes', 'points', 'expected'), [
    (spread_boxes(40, 0.9), spread_points(40, 0.9), [UNEXPECTED_OBSERVATIONS_COUNT]),
    (spread_boxes(1, 0.9), spread_points(1, 0.9), []),
    (spread_boxes(40, 0.9), spread_points(40, 0.3), [UNCERTAIN, UNEXPECTED_OBSERVATIONS_COUNT]),
    (spread_boxes(1, 0.9), spread_points(1, 0.3), [UNCERTAIN]),
])
def test_unexpected_observations_count(boxes: list[BoxDetection], points: list[PointDetection],
                                       expected: list[str]) -> None:
    """D16: 40+40 confident -> count; 1+1 confident -> []; 40 boxes + 40 points at 0.3 -> uncertain, count;
    1 box + 1 point at 0.3 -> uncertain."""
    assert make_filter().causes(image(boxes, points), CAMERA, now=0.0) == expected


def test_count_threshold_is_80_of_all_kinds() -> None:
    """§10: 79 detections give no count cause; 80 mixed over all four kinds do, and the count comes last."""
    relevance = make_filter()
    assert relevance.causes(image(spread_boxes(79, 0.9)), 'a', now=0.0) == []
    mixed = image(spread_boxes(30, 0.9), spread_points(30, 0.9), [segmentation()] * 10,
                  [classification(0.95)] * 10)
    assert relevance.causes(mixed, 'b', now=0.0) == [SEGMENTATION_DETECTION, UNEXPECTED_OBSERVATIONS_COUNT]


def test_causes_are_unique_in_order_of_first_occurrence() -> None:
    """§10 step 4: walk order boxes, points, segmentations, classifications; no duplicates; count last."""
    relevance = make_filter()
    only_late = image(segmentations=[segmentation(), segmentation()], classifications=[classification(0.4)])
    assert relevance.causes(only_late, 'a', now=0.0) == [SEGMENTATION_DETECTION, UNCERTAIN]
    early_box = image([box(0, 0, conf=0.4), box(300, 0, conf=0.5)], [point(50, 50, conf=0.3)],
                      [segmentation()], [classification(0.4)])
    assert relevance.causes(early_box, 'b', now=0.0) == [UNCERTAIN, SEGMENTATION_DETECTION]
    many = image(spread_boxes(79, 0.9), segmentations=[segmentation()], classifications=[classification(0.4)])
    assert relevance.causes(many, 'c', now=0.0) == [SEGMENTATION_DETECTION, UNCERTAIN,
                                                    UNEXPECTED_OBSERVATIONS_COUNT]


# --- histories and aging --------------------------------------------------------------------------------------


def test_identical_images_on_one_camera_only_the_first_has_causes() -> None:
    """D11 (filter part): two identical images with a box and a point at 0.42 on one camera: first gives
    causes, the second none."""
    relevance = make_filter()
    detected = image([box(120, 64, conf=0.42)], [point(300.5, 210.0, conf=0.42)])
    assert relevance.causes(copy.deepcopy(detected), CAMERA, now=10.0) == [UNCERTAIN]
    assert relevance.causes(copy.deepcopy(detected), CAMERA, now=10.5) == []


def test_histories_are_per_camera() -> None:
    """§10: one history per camera id and one shared for requests without one."""
    relevance = make_filter()
    detected = image([box(10, 10, conf=0.4)])
    assert relevance.causes(detected, 'a', now=0.0) == [UNCERTAIN]
    assert relevance.causes(detected, 'b', now=0.0) == [UNCERTAIN]
    assert relevance.causes(detected, None, now=0.0) == [UNCERTAIN]
    assert relevance.causes(detected, None, now=1.0) == []
    assert [relevance.observation_count(c) for c in ('a', 'b', None, 'unknown')] == [1, 1, 1, 0]


def test_aging_with_a_short_max_age() -> None:
    """D12: with a 0.1 s max age, an observation is forgotten 0.2 s later."""
    relevance = make_filter(max_age_s=0.1)
    detected = image([box(10, 10, conf=0.4)])
    assert relevance.causes(detected, CAMERA, now=100.0) == [UNCERTAIN]
    assert relevance.causes(detected, CAMERA, now=100.05) == []
    assert relevance.causes(detected, CAMERA, now=100.25) == [UNCERTAIN]
    assert relevance.observation_count(CAMERA) == 1


def test_thirty_minutes_kept_sixty_one_forgotten() -> None:
    """D12: an observation last seen 30 min ago is kept, one last seen 61 min ago is forgotten."""
    detected = image([box(10, 10, conf=0.4)])
    relevance = make_filter()
    relevance.causes(detected, CAMERA, now=0.0)
    assert relevance.causes(detected, CAMERA, now=30 * 60.0) == []
    relevance = make_filter()
    relevance.causes(detected, CAMERA, now=0.0)
    assert relevance.causes(detected, CAMERA, now=61 * 60.0) == [UNCERTAIN]


def test_exactly_max_age_is_kept() -> None:
    """§10: only observations seen *more* than 3600 s ago are dropped."""
    relevance = make_filter()
    detected = image([box(10, 10, conf=0.4)])
    relevance.causes(detected, CAMERA, now=0.0)
    assert relevance.causes(detected, CAMERA, now=3600.0) == []


def test_similar_detection_refreshes_last_seen() -> None:
    """§10: a similar detection refreshes the observation, so it survives 3600 s after that sighting."""
    relevance = make_filter()
    detected = image([box(10, 10, conf=0.4)])
    relevance.causes(detected, CAMERA, now=0.0)
    assert relevance.causes(detected, CAMERA, now=3000.0) == []
    assert relevance.causes(detected, CAMERA, now=6000.0) == []
    assert relevance.causes(detected, CAMERA, now=9601.0) == [UNCERTAIN]


def test_out_of_order_clock_never_moves_last_seen_back() -> None:
    """Request threads read the clock before taking the lock, so `now` may step back a little: a refresh with an
    older time keeps the newer `last_seen`."""
    relevance = make_filter()
    detected = image([box(10, 10, conf=0.4)])
    relevance.causes(detected, CAMERA, now=100.0)
    assert relevance.causes(detected, CAMERA, now=99.5) == []
    assert relevance.causes(image(), 'other', now=3700.0) == []
    assert relevance.observation_count(CAMERA) == 1
    relevance.causes(image(), 'other', now=3700.5)
    assert relevance.observation_count(CAMERA) == 0


def test_camera_less_history_ages() -> None:
    """F11: camera-less observations are forgotten after 3600 s (clock injected)."""
    relevance = make_filter()
    detected = image([box(10, 10, conf=0.4)], [point(200, 200, conf=0.5)])
    assert relevance.causes(detected, None, now=1000.0) == [UNCERTAIN]
    assert relevance.causes(detected, None, now=1000.0 + 3599.0) == []
    assert relevance.observation_count(None) == 2
    relevance.causes(image(), 'other-camera', now=1000.0 + 3599.0 + 3601.0)
    assert relevance.observation_count(None) == 0
    assert relevance.causes(detected, None, now=1000.0 + 3599.0 + 3602.0) == [UNCERTAIN]


def test_aging_runs_over_every_history_and_drops_empty_ones() -> None:
    """§10 step 1: a call for one camera ages all histories; histories left empty are removed."""
    relevance = make_filter()
    relevance.causes(image([box(10, 10)]), 'a', now=0.0)
    relevance.causes(image([box(10, 10)]), 'b', now=2000.0)
    assert sorted(relevance.camera_ids()) == ['a', 'b']
    relevance.causes(image(), 'c', now=4000.0)
    assert relevance.camera_ids() == ['b']
    assert relevance.observation_count('a') == 0
    assert relevance.observation_count('b') == 1


def test_clear_forgets_everything() -> None:
    """F6 (filter part): soft_reload clears all histories."""
    relevance = make_filter()
    detected = image([box(10, 10, conf=0.4)])
    relevance.causes(detected, 'a', now=0.0)
    relevance.causes(detected, None, now=0.0)
    relevance.clear()
    assert relevance.camera_ids() == []
    assert relevance.causes(detected, 'a', now=1.0) == [UNCERTAIN]
    assert relevance.causes(detected, None, now=1.0) == [UNCERTAIN]


def test_metadata_is_not_modified() -> None:
    """The filter only reads the image's metadata: tags and detections are unchanged."""
    detected = image([box(10, 10, conf=0.4)], [point(1, 2, conf=0.5)], [segmentation()], [classification(0.4)])
    detected.tags = ['field_a']
    before = copy.deepcopy(detected)
    make_filter().causes(detected, CAMERA, now=0.0)
    assert detected == before


def test_max_age_must_be_positive() -> None:
    with pytest.raises(ValueError, match='max_age_s'):
        RelevanceFilter(0.3, 0.6, max_age_s=0)


# --- threads --------------------------------------------------------------------------------------------------


def test_concurrent_threads_keep_a_consistent_history() -> None:
    """Many request threads share one filter: no errors, every distinct box stored once, and a box that all
    threads send to one shared camera gives its cause exactly once."""
    relevance = make_filter()
    thread_count, images_per_thread = 8, 150
    start = threading.Barrier(thread_count)
    results: dict[int, list[list[str]]] = {}
    shared_causes: list[list[str]] = []
    errors: list[BaseException] = []
    shared_lock = threading.Lock()

    def hammer(worker: int) -> None:
        try:
            start.wait(timeout=10)
            own: list[list[str]] = []
            for i in range(images_per_thread):
                now = float(i)
                own.append(relevance.causes(image([box(i * 40, 0, conf=0.4)]), f'cam-{worker}', now))
                shared = relevance.causes(image([box(10, 10, conf=0.4)]), 'shared', now)
                with shared_lock:
                    shared_causes.append(shared)
            results[worker] = own
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(n,), name=f'relevance-test-{n}') for n in range(thread_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    for worker in range(thread_count):
        assert results[worker] == [[UNCERTAIN]] * images_per_thread
        assert relevance.observation_count(f'cam-{worker}') == images_per_thread
    assert shared_causes.count([UNCERTAIN]) == 1
    assert shared_causes.count([]) == thread_count * images_per_thread - 1
    assert relevance.observation_count('shared') == 1
