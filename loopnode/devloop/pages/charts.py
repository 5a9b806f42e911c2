"""The small SVG chart of one confusion-matrix sync (pure): tp/fp/fn bars per category, precision and recall."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from loopnode.service.pagekit import Palette

BAR_COLORS = {'tp': '#12B76A', 'fp': '#F04438', 'fn': '#F79009'}
CHART_HEIGHT = 80
BAR_WIDTH = 12
GROUP_GAP = 30
LABEL_HEIGHT = 14


@dataclass(frozen=True)
class Bar:
    kind: str
    x: float
    y: float
    width: float
    height: float
    color: str
    value: int


@dataclass(frozen=True)
class CategoryBars:
    """One category's tp/fp/fn bars and its precision/recall (None when undefined)."""
    name: str
    color: str
    x: float
    bars: list[Bar]
    precision: float | None
    recall: float | None

    @property
    def title(self) -> str:
        def pct(v: float | None) -> str:
            return '–' if v is None else f'{v:.0%}'
        counts = ' · '.join(f'{b.kind} {b.value}' for b in self.bars)
        return f'{self.name}: {counts} (precision {pct(self.precision)}, recall {pct(self.recall)})'


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    groups: list[CategoryBars]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def confusion_chart(matrix: Any, palette: Palette) -> Chart | None:
    """The chart of `{"<category id>": {"tp", "fp", "fn"}}`; None when there is nothing to draw."""
    if not isinstance(matrix, Mapping) or not matrix:
        return None
    rows = [(key, value) for key, value in matrix.items() if isinstance(value, Mapping)]
    if not rows:
        return None
    top = max([1] + [_count(v.get(k)) for _, v in rows for k in BAR_COLORS])
    groups = []
    x = 4.0
    for key, counts in rows:
        name, color = palette.lookup(key)
        bars = []
        for i, kind in enumerate(BAR_COLORS):
            value = _count(counts.get(kind))
            height = round(CHART_HEIGHT * value / top, 1)
            bars.append(Bar(kind, x + i * BAR_WIDTH, CHART_HEIGHT - height, BAR_WIDTH - 1, height,
                            BAR_COLORS[kind], value))
        tp, fp, fn = (_count(counts.get(k)) for k in BAR_COLORS)
        groups.append(CategoryBars(name, color, x, bars, tp / (tp + fp) if tp + fp else None,
                                   tp / (tp + fn) if tp + fn else None))
        x += 3 * BAR_WIDTH + GROUP_GAP
    return Chart(width=x, height=CHART_HEIGHT + LABEL_HEIGHT, groups=groups)
