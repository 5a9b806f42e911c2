"""Run `loopnode` under tracemalloc and record what is alive at the peak of traced memory (issue 16).

    python bench/traced_loopnode.py --out DIR detector --logic loopnode_logic:FixedLogicFactory

A `tracemalloc-peak` thread samples the traced size every 2 ms and takes a snapshot whenever it reaches a new
peak; on SIGUSR1 (or at exit) DIR/peak.txt gets the live blocks of the peak snapshot grouped by traceback
(the copies a message goes through), DIR/now.txt those of the moment. Python allocations only: buffers that
numpy or C libraries allocate with malloc are not seen (numpy's data is, via its tracemalloc domain).
"""
from __future__ import annotations

import signal
import sys
import threading
import tracemalloc
from pathlib import Path
from typing import Any

FRAMES = 12
MIN_BLOCK = 64 * 1024


def describe(snapshot: tracemalloc.Snapshot, title: str) -> str:
    stats = snapshot.statistics('traceback')
    big = [s for s in stats if s.size >= MIN_BLOCK]
    total = sum(s.size for s in stats)
    lines = [f'{title}: {total / 2**20:.1f} MiB traced, {sum(s.size for s in big) / 2**20:.1f} MiB in groups '
             f'of >= {MIN_BLOCK // 1024} KiB', '']
    for stat in big[:25]:
        lines.append(f'{stat.size / 2**20:7.2f} MiB in {stat.count} blocks')
        lines += [f'    {frame.filename}:{frame.lineno}' for frame in reversed(stat.traceback)
                  if 'threading.py' not in frame.filename][:FRAMES]
        lines.append('')
    return '\n'.join(lines)


def main(argv: list[str]) -> int:
    out = Path(argv[argv.index('--out') + 1])
    argv = [a for i, a in enumerate(argv) if a != '--out' and (i == 0 or argv[i - 1] != '--out')]
    out.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(FRAMES)
    state: dict[str, Any] = {'peak': 0, 'snapshot': None}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.002):
            current, _ = tracemalloc.get_traced_memory()
            if current > state['peak'] * 1.02:
                state['peak'] = current
                state['snapshot'] = tracemalloc.take_snapshot()

    def dump(*_args: Any) -> None:
        snapshot = state['snapshot']
        if snapshot is not None:
            (out / 'peak.txt').write_text(describe(snapshot, f'peak {state["peak"] / 2**20:.1f} MiB'))
        (out / 'now.txt').write_text(describe(tracemalloc.take_snapshot(), 'now'))

    thread = threading.Thread(target=sample, name='tracemalloc-peak')
    thread.start()
    signal.signal(signal.SIGUSR1, dump)
    try:
        from loopnode.cli import main as cli_main
        return cli_main(argv)
    finally:
        stop.set()
        thread.join()
        dump()


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
