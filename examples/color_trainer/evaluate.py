"""Confusion matrix per category (pure): the colour detector's results against the annotations of test images.

A box counts as found at IoU >= 0.5 with an annotation of its category, a point within 10 px (the rules of
`color_detector.accuracy`); each annotation and each detection is matched at most once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from loopnode.data import ImageMetadata

from ..color_detector.accuracy import Tally, tally_image
from ..color_detector.fit import Sample


@dataclass
class ConfusionMatrix:
    """Tallies per category id; `to_dict()` is the Loop's `{uuid: {tp, fp, fn}}`."""

    tallies: dict[str, Tally] = field(default_factory=dict)

    def add(self, sample: Sample, result: ImageMetadata, category_ids: Iterable[str]) -> None:
        """Add one image: every category is matched on its own annotations and detections."""
        for cid in category_ids:
            only = Sample(sample.image, [b for b in sample.boxes if b[0] == cid],
                          [p for p in sample.points if p[0] == cid])
            mine = ImageMetadata(box_detections=[d for d in result.box_detections if d.category_id == cid],
                                 point_detections=[d for d in result.point_detections if d.category_id == cid])
            tally = self.tallies.setdefault(cid, Tally())
            tally_image(only, mine, tally, tally)

    def total(self) -> Tally:
        return Tally(sum(t.tp for t in self.tallies.values()), sum(t.fp for t in self.tallies.values()),
                     sum(t.fn for t in self.tallies.values()))

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {cid: {'tp': t.tp, 'fp': t.fp, 'fn': t.fn} for cid, t in self.tallies.items()}
