"""The benchmark table: figures per implementation, ratio loopnode/upstream, goals; and its RESULTS.md section."""
from __future__ import annotations

import math
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

SECTION_TITLE = '## Round two (issue 16): every node type vs learning_loop_node 0.27.0 (`make bench`)'


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    better: str  # 'higher' or 'lower'


METRICS = [
    Metric('rest_c1_rps', 'REST /detect c=1 throughput', 'req/s', 'higher'),
    Metric('rest_c1_ms', 'REST /detect c=1 mean latency', 'ms', 'lower'),
    Metric('rest_c4_rps', 'REST /detect c=4 throughput', 'req/s', 'higher'),
    Metric('rest_c4_ms', 'REST /detect c=4 mean latency', 'ms', 'lower'),
    Metric('sio_raw_p50', 'Socket.IO detect raw 640×480×3, median', 'ms', 'lower'),
    Metric('sio_raw_p95', 'Socket.IO detect raw 640×480×3, p95', 'ms', 'lower'),
    Metric('sio_jpeg_p50', 'Socket.IO detect JPEG, median', 'ms', 'lower'),
    Metric('sio_jpeg_p95', 'Socket.IO detect JPEG, p95', 'ms', 'lower'),
    Metric('batch8_p50', 'Socket.IO batch_detect 8 raw, median', 'ms', 'lower'),
    Metric('batch8_p95', 'Socket.IO batch_detect 8 raw, p95', 'ms', 'lower'),
    Metric('idle_rss', 'RSS idle (model loaded)', 'MiB', 'lower'),
    Metric('load_rss', 'RSS right after the load', 'MiB', 'lower'),
    Metric('settled_rss', 'RSS 2 s after the load', 'MiB', 'lower'),
    Metric('idle_cpu', 'CPU while idle', 's', 'lower'),
    Metric('start_readyz', 'start → /readyz 200', 's', 'lower'),
    Metric('start_detect', 'start → first successful /detect', 's', 'lower'),
    Metric('outbox_drain', 'outbox drain, 1,000 images', 'img/s', 'higher'),
    Metric('ann_p50', 'annotator handle_user_input round trip via devloop, median', 'ms', 'lower'),
    Metric('ann_p95', 'annotator handle_user_input round trip via devloop, p95', 'ms', 'lower'),
    Metric('ann_floor_p50', 'floor: instant-ack client (threaded Client / AsyncClient), median', 'ms', 'lower'),
    Metric('ann_idle_rss', 'annotator RSS idle (connected)', 'MiB', 'lower'),
    Metric('ann_load_rss', 'annotator RSS after the round trips', 'MiB', 'lower'),
    Metric('trainer_wall', 'trainer begin_training → idle, 200 images (bench/trainer_bench.py)', 's', 'lower'),
    Metric('trainer_idle_rss', 'trainer RSS idle (connected)', 'MiB', 'lower'),
    Metric('conv_wall', 'converter start → 20 models converted', 's', 'lower'),
    Metric('conv_idle_rss', 'converter RSS idle (after the pass)', 'MiB', 'lower'),
]

# (metric key, comparison, bound, label) — ratio loopnode / upstream, measured in the same run.
GOALS = [
    ('rest_c1_rps', '>=', 1.7, 'REST c=1 throughput ≥ 1.7×'),
    ('sio_raw_p50', '<=', 0.8, 'Socket.IO raw-array latency ≤ 0.8×'),
    ('sio_jpeg_p50', '<=', 0.8, 'Socket.IO JPEG latency ≤ 0.8×'),
    ('idle_rss', '<=', 0.65, 'detector idle RSS ≤ 0.65×'),
    ('settled_rss', '<=', 1.0, 'detector RSS after the load (2 s later) ≤ 1.0×'),
    ('batch8_p50', '<=', 0.8, 'Socket.IO batch_detect 8 ≤ 0.8×'),
    ('idle_cpu', '<=', 1.0, 'idle CPU ≤ 1×'),
    ('start_detect', '<=', 0.5, 'start-to-ready ≤ 0.5×'),
    ('ann_p50', '<=', 0.8, 'annotator round trip ≤ 0.8×'),
    ('ann_idle_rss', '<=', 0.7, 'annotator idle RSS ≤ 0.7×'),
    ('trainer_wall', '<=', 0.5, 'trainer begin_training → idle ≤ 0.5×'),
    ('trainer_idle_rss', '<=', 0.7, 'trainer idle RSS ≤ 0.7×'),
]


def ratio(results: dict[str, dict[str, float]], key: str) -> float | None:
    ours, theirs = results['loopnode'].get(key), results['upstream'].get(key)
    if ours is None or theirs is None or theirs == 0 or math.isnan(ours) or math.isnan(theirs):
        return None
    return ours / theirs


def fmt(value: float | None, unit: str = '') -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '–'
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 1 else 3
    return f'{value:.{digits}f}'


def goal_rows(results: dict[str, dict[str, float]]) -> list[tuple[str, str, str]]:
    rows = []
    for key, op, bound, label in GOALS:
        r = ratio(results, key)
        met = r is not None and (r >= bound if op == '>=' else r <= bound)
        rows.append((label, fmt(r), 'met' if met else 'NOT met' if r is not None else 'not measured'))
    return rows


def markdown_table(results: dict[str, dict[str, float]], notes: dict[str, str]) -> str:
    lines = ['| Figure | Unit | loopnode | upstream 0.27.0 | loopnode / upstream |', '|---|---|---|---|---|']
    for m in METRICS:
        ours, theirs = results['loopnode'].get(m.key), results['upstream'].get(m.key)
        if ours is None and theirs is None:
            continue
        label = m.label + (f' ({notes[m.key]})' if m.key in notes else '')
        lines.append(f'| {label} | {m.unit} | {fmt(ours)} | {fmt(theirs)} | {fmt(ratio(results, m.key))} |')
    lines += ['', '| Goal (ratio loopnode / upstream) | Measured | Status |', '|---|---|---|']
    lines += [f'| {label} | {value} | {status} |' for label, value, status in goal_rows(results)]
    return '\n'.join(lines)


def text_table(results: dict[str, dict[str, float]]) -> str:
    rows = [('figure', 'unit', 'loopnode', 'upstream', 'ratio')]
    for m in METRICS:
        ours, theirs = results['loopnode'].get(m.key), results['upstream'].get(m.key)
        if ours is not None or theirs is not None:
            rows.append((m.label, m.unit, fmt(ours), fmt(theirs), fmt(ratio(results, m.key))))
    rows.append(('', '', '', '', ''))
    rows += [(label, '', '', value, status) for label, value, status in goal_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return '\n'.join('  '.join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows)


def machine() -> str:
    cpu = ''
    try:
        cpu = next((line.split(':', 1)[1].strip() for line in Path('/proc/cpuinfo').read_text().splitlines()
                    if line.startswith('model name')), '')
    except OSError:
        pass
    mem = ''
    try:
        kib = int(re.search(r'MemTotal:\s+(\d+)', Path('/proc/meminfo').read_text()).group(1))  # type: ignore[union-attr]
        mem = f', {kib / 1024 / 1024:.0f} GB RAM'
    except (OSError, AttributeError):
        pass
    return f'{platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu}){mem}'


def write_section(path: Path, body: str, variant: str = '') -> None:
    """Replace (or append) our section of RESULTS.md, keeping every other section (earlier rounds, "Outbox drain").

    A run with proposals or another client (`variant`) gets its own section, so the plain run stays.
    """
    title = SECTION_TITLE + (f' — variant: {variant}' if variant else '')
    text = path.read_text() if path.exists() else '# Benchmark results\n'
    chunks = re.split(r'(?m)^(?=## )', text)
    section = f'{title}\n\n{body.rstrip()}\n\n'
    for i, chunk in enumerate(chunks):
        if chunk.split('\n', 1)[0] == title:
            chunks[i] = section
            break
    else:
        position = [i for i, c in enumerate(chunks) if c.startswith(SECTION_TITLE)]
        insert_at = position[-1] + 1 if position else len(chunks)  # a new round goes after the earlier ones
        chunks.insert(insert_at, section)
    if chunks and not chunks[0].startswith('## ') and not chunks[0].endswith('\n\n'):
        chunks[0] = chunks[0].rstrip('\n') + '\n\n'
    path.write_text(''.join(chunks).rstrip('\n') + '\n')
