"""`make bench`: loopnode's detector against learning_loop_node 0.27.0, side by side, in one run (issue 7).

Both detectors run the same fixed logic (compat/fixed_detections.py, format `mocked`) with model 1.1 on disk,
against one devloop (its own process), and get the same 640×480 photo-like JPEG (bench/photo.py). Measurements
alternate between the two. Requests use `autoupload: disabled` so that the detection path itself is measured.
Run by hand, never in CI:

    .venv/bin/python bench/run_bench.py                 # full run (60 s idle window), writes bench/RESULTS.md
    .venv/bin/python bench/run_bench.py --quick         # a few minutes less: 10 s idle, fewer rounds, no write
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import procs
import nodes
import report
from load import SioClient, async_round_trips, check_batch, median, percentile, rest_load, start_to_ready
from photo import decoded, photo_jpeg

log = logging.getLogger('bench')
IMPLS = ('loopnode', 'upstream')
SETTLED_AFTER_LOAD = 2.0  # seconds without traffic before the second RSS figure (loopnode trims its heap then)
STARTERS: dict[str, procs.Starter] = {'loopnode': procs.loopnode_detector, 'upstream': procs.upstream_detector}
PACKAGES = ['learning_loop_node', 'loopnode', 'flask', 'flask-socketio', 'python-socketio', 'python-engineio',
            'simple-websocket', 'werkzeug', 'fastapi', 'uvicorn', 'uvloop', 'numpy', 'pillow']


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def versions(python: Path) -> dict[str, str]:
    code = ('import importlib.metadata as m, json, sys, platform\n'
            f'names = {PACKAGES!r}\n'
            'out = {"python": platform.python_version()}\n'
            'for n in names:\n'
            '    try: out[n] = m.version(n)\n'
            '    except m.PackageNotFoundError: pass\n'
            'print(json.dumps(out))')
    return json.loads(subprocess.run([str(python), '-c', code], capture_output=True, text=True, check=True).stdout)


def git_revision() -> str:
    result = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=procs.ROOT, capture_output=True, text=True)
    return result.stdout.strip() or 'unknown'


class Bench:
    """One benchmark run in `work` (a temporary folder)."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.impls = [i for i in IMPLS if args.only in ('both', i)]
        self.jpeg = photo_jpeg()
        self.raw = decoded(self.jpeg)
        self.results: dict[str, dict[str, float]] = {i: {} for i in IMPLS}
        self.counters: dict[str, dict[str, int]] = {i: {'errors': 0, 'reconnects': 0} for i in IMPLS}
        self.loop: procs.Proc | None = None
        self.model_zip = b''

    def node(self, impl: str, tag: str) -> procs.Proc:
        assert self.loop is not None
        data = procs.prepare_data(self.work / f'{impl}-{tag}', self.model_zip)
        loop_port = int(self.loop.url.rsplit(':', 1)[1])
        if impl == 'loopnode' and (self.args.patches or self.args.loopnode_env):
            extra = dict(item.split('=', 1) for item in self.args.loopnode_env.split(',') if item)
            return procs.loopnode_detector(free_port(), data, loop_port, self.work / f'{impl}-{tag}.log',
                                           patches=self.args.patches, extra_env=extra)
        return STARTERS[impl](free_port(), data, loop_port, self.work / f'{impl}-{tag}.log')

    def order(self, round_index: int) -> list[str]:
        return self.impls if round_index % 2 == 0 else list(reversed(self.impls))

    def run(self) -> None:
        self.loop = procs.devloop(free_port(), self.work / 'devloop', self.work / 'devloop.log').start()
        try:
            procs.wait_http(self.loop.url + '/api/status', proc=self.loop)
            self.model_zip = procs.fetch_model_zip(self.loop.url)
            if not self.args.nodes_only:
                self.measure_detectors()
            if not self.args.skip_nodes:
                self.measure_other_nodes()
        finally:
            self.loop.stop()
        if not self.args.skip_drain:
            self.measure_drain()
        if not self.args.skip_nodes and self.impls == list(IMPLS):
            self.measure_trainer()

    def measure_detectors(self) -> None:
        self.measure_starts()
        detectors = {impl: self.node(impl, 'main') for impl in self.impls}
        try:
            for impl, node in detectors.items():
                start_to_ready(node, self.jpeg)
            self.measure_idle(detectors)
            self.measure_load(detectors)
            for impl, node in detectors.items():
                self.results[impl]['load_rss'] = procs.rss_mib(node.pid)
            time.sleep(SETTLED_AFTER_LOAD)
            for impl, node in detectors.items():
                self.results[impl]['settled_rss'] = procs.rss_mib(node.pid)
        finally:
            for node in detectors.values():
                node.stop()

    def measure_other_nodes(self) -> None:
        """Annotator (both) and converter (loopnode only: upstream 0.27.0 has none) against the same devloop."""
        assert self.loop is not None
        a = self.args
        figures = nodes.annotator_bench(self.loop.url, self.work, self.impls, free_port, a.rounds, a.ann_n, a.settle)
        for impl, values in figures.items():
            self.results[impl].update(values)
        if 'loopnode' in self.impls:
            self.results['loopnode'].update(nodes.converter_bench(self.loop.url, self.work, free_port,
                                                                  a.conv_repeats, a.settle))

    def measure_starts(self) -> None:
        ready: dict[str, list[float]] = {i: [] for i in IMPLS}
        detect: dict[str, list[float]] = {i: [] for i in IMPLS}
        for r in range(self.args.starts):
            for impl in self.order(r):
                node = self.node(impl, f'start{r}')
                try:
                    t_ready, t_detect = start_to_ready(node, self.jpeg)
                finally:
                    node.stop()
                if t_ready is not None:
                    ready[impl].append(t_ready)
                detect[impl].append(t_detect)
                log.info('%s start %d: readyz %s s, first detect %.3f s', impl, r, t_ready, t_detect)
        for impl in self.impls:
            if ready[impl]:
                self.results[impl]['start_readyz'] = median(ready[impl])
            self.results[impl]['start_detect'] = median(detect[impl])

    def measure_idle(self, nodes: dict[str, procs.Proc]) -> None:
        time.sleep(self.args.settle)
        before = {impl: procs.cpu_seconds(node.pid) for impl, node in nodes.items()}
        for impl, node in nodes.items():
            self.results[impl]['idle_rss'] = procs.rss_mib(node.pid)
        log.info('idle window: %.0f s (both detectors at once)', self.args.idle)
        time.sleep(self.args.idle)
        for impl, node in nodes.items():
            self.results[impl]['idle_cpu'] = procs.cpu_seconds(node.pid) - before[impl]

    def measure_load(self, nodes: dict[str, procs.Proc]) -> None:
        a = self.args
        rest: dict[tuple[str, int], list[Any]] = {}
        sio: dict[tuple[str, str], list[float]] = {}
        raw_image = {'bytes': self.raw.tobytes(), 'dtype': 'uint8', 'shape': list(self.raw.shape)}
        payloads = {
            'raw': ('detect', {'image': raw_image, 'autoupload': 'disabled'}, None),
            'jpeg': ('detect', {'image': {'format': 'jpeg', 'bytes': self.jpeg}, 'autoupload': 'disabled'}, None),
            'batch8': ('batch_detect', {'images': [raw_image] * 8, 'autoupload': 'disabled'}, check_batch(8)),
        }
        for r in range(a.rounds):
            for impl in self.order(r):
                url = nodes[impl].url
                for clients in (1, 4):
                    result = rest_load(url, self.jpeg, clients, a.rest_seconds)
                    rest.setdefault((impl, clients), []).append(result)
                    self.counters[impl]['errors'] += result.errors
                    self.counters[impl]['reconnects'] += result.reconnects
                    log.info('%s round %d REST c=%d: %.1f req/s, %.2f ms', impl, r, clients, result.rps,
                             result.mean_ms)
                client = SioClient(url) if a.sio_client == 'threaded' else None
                try:
                    for name, (event, payload, check) in payloads.items():
                        n = a.batch_n if name == 'batch8' else a.sio_n
                        kwargs = {'check': check} if check else {}
                        if client is None:
                            latencies, errors = async_round_trips(url, event, payload, n)
                        else:
                            latencies, errors = client.round_trips(event, payload, n, **kwargs)
                        sio.setdefault((impl, name), []).extend(latencies)
                        self.counters[impl]['errors'] += errors
                        log.info('%s round %d SIO %s: median %.2f ms', impl, r, name, median(latencies))
                finally:
                    if client is not None:
                        client.close()
        for impl in self.impls:
            for clients in (1, 4):
                runs = rest[(impl, clients)]
                total = sum(x.requests for x in runs)
                self.results[impl][f'rest_c{clients}_rps'] = total / sum(x.seconds for x in runs)
                self.results[impl][f'rest_c{clients}_ms'] = sum(x.mean_ms * x.requests for x in runs) / total
            for name in payloads:
                values = sio[(impl, name)]
                self.results[impl][f'sio_{name}_p50' if name != 'batch8' else 'batch8_p50'] = median(values)
                self.results[impl][f'sio_{name}_p95' if name != 'batch8' else 'batch8_p95'] = percentile(values, 0.95)

    def measure_trainer(self) -> None:
        """bench/trainer_bench.py (the trainer engineer's script, its own devloop): begin_training → idle, RSS."""
        script = procs.ROOT / 'bench' / 'trainer_bench.py'
        if not script.exists():
            return
        argv = [str(procs.LOOPNODE_PYTHON), str(script), '--images', str(self.args.trainer_images), '--rounds',
                str(self.args.trainer_rounds), '--idle', str(self.args.settle), '--no-write']
        result = subprocess.run(argv, cwd=procs.ROOT, capture_output=True, text=True, timeout=1200)
        lines = [line for line in result.stdout.splitlines() if line.startswith('{')]
        if result.returncode != 0 or not lines:
            log.warning('trainer_bench.py failed (%s): %s', result.returncode, result.stderr[-2000:])
            return
        figures = json.loads(lines[-1])
        for impl in IMPLS:
            self.results[impl]['trainer_wall'] = median(figures[impl]['wall'])
            self.results[impl]['trainer_idle_rss'] = median(figures[impl]['rss'])
        log.info('trainer: %s', figures)

    def measure_drain(self) -> None:
        script = procs.ROOT / 'bench' / 'outbox_drain.py'
        if not script.exists() or 'loopnode' not in self.impls:
            return
        result = subprocess.run([str(procs.LOOPNODE_PYTHON), str(script)], cwd=procs.ROOT, capture_output=True,
                                text=True, timeout=900)
        match = re.search(r'([\d.]+) images/s', result.stdout)
        if result.returncode != 0 or not match:
            log.warning('outbox_drain.py failed (%s): %s', result.returncode, result.stderr[-2000:])
            return
        self.results['loopnode']['outbox_drain'] = float(match.group(1))
        # upstream uploads one batch of 20 every 5 s (outbox.py BATCH_SIZE, UPLOAD_INTERVAL_S): by design
        self.results['upstream']['outbox_drain'] = 20 / 5


def results_body(bench: Bench, args: argparse.Namespace, started: dt.datetime) -> str:
    ours, theirs = versions(procs.LOOPNODE_PYTHON), versions(procs.UPSTREAM_PYTHON)
    keep = ('python', 'loopnode', 'flask', 'flask-socketio', 'python-socketio', 'python-engineio', 'simple-websocket',
            'werkzeug', 'numpy', 'pillow')
    keep_up = ('python', 'learning_loop_node', 'fastapi', 'uvicorn', 'uvloop', 'python-socketio', 'python-engineio',
               'numpy', 'pillow')
    notes = {'outbox_drain': 'upstream: by design, 20 per 5 s', 'start_readyz': 'upstream has no /readyz'}
    command = ' '.join(['.venv/bin/python bench/run_bench.py'] + sys.argv[1:])
    patched = f' loopnode ran with the proposed patches `{args.patches}` (bench/patched_loopnode.py).' \
        if args.patches else ''
    if args.loopnode_env:
        patched += f' loopnode environment: `{args.loopnode_env}`.'
    counters = ', '.join(f'{i}: {c["errors"]} wrong answers, {c["reconnects"]} reconnects'
                         for i, c in bench.counters.items() if i in bench.impls)
    return '\n'.join([
        f'Run {started:%Y-%m-%d %H:%M} UTC, loopnode at git {git_revision()}. Command: `{command}`'
        + (' (what `make bench` runs).' if len(sys.argv) == 1 else '.'),
        '',
        f'Machine: {report.machine()}.',
        '',
        'Versions: loopnode venv ' + ', '.join(f'{k} {ours[k]}' for k in keep if k in ours)
        + '; upstream venv ' + ', '.join(f'{k} {theirs[k]}' for k in keep_up if k in theirs) + '.',
        '',
        f'Parameters: {args.rounds} alternating rounds; REST {args.rest_seconds:g} s per round and client count, '
        f'keep-alive `http.client` clients; Socket.IO {args.sio_n} calls per round and payload '
        f'({args.batch_n} for the batch of 8), python-socketio '
        f'{"`Client` (threaded, websocket-client)" if args.sio_client == "threaded" else "`AsyncClient` (aiohttp)"}'
        f' over WebSocket; idle window '
        f'{args.idle:g} s after {args.settle:g} s settling (both detectors idle at once); start-to-ready: median '
        f'of {args.starts} cold starts each with model 1.1 on disk. Image: 640×480 photo-like JPEG, '
        f'{len(bench.jpeg) / 1024:.0f} KiB (bench/photo.py); raw = its decoded pixels (921,600 bytes). All requests '
        f'`autoupload: disabled`. Answers checked: {counters}.{patched}',
        '',
        report.markdown_table(bench.results, notes),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--idle', type=float, default=60.0, help='idle CPU window, seconds (default 60)')
    parser.add_argument('--settle', type=float, default=5.0, help='wait after start before idle figures')
    parser.add_argument('--rounds', type=int, default=3, help='alternating load rounds')
    parser.add_argument('--rest-seconds', type=float, default=5.0, help='REST load per round and client count')
    parser.add_argument('--sio-n', type=int, default=200, help='Socket.IO detect calls per round and payload')
    parser.add_argument('--batch-n', type=int, default=30, help='batch_detect calls per round')
    parser.add_argument('--starts', type=int, default=3, help='cold starts per detector')
    parser.add_argument('--sio-client', choices=('threaded', 'async'), default='threaded',
                        help='threaded: python-socketio Client (websocket-client, masks in Python); async: '
                        'AsyncClient over aiohttp as rosys, run from .venv-upstream (bench/sio_client_async.py)')
    parser.add_argument('--ann-n', type=int, default=100, help='annotator handle_user_input calls per round')
    parser.add_argument('--conv-repeats', type=int, default=3, help='converter passes over 20 models (fresh each)')
    parser.add_argument('--trainer-images', type=int, default=200, help='images per training (trainer bench)')
    parser.add_argument('--trainer-rounds', type=int, default=2, help='trainings per trainer')
    parser.add_argument('--skip-nodes', action='store_true', help='detectors only (no annotator, converter, trainer)')
    parser.add_argument('--nodes-only', action='store_true', help='annotator, converter and trainer only (no detectors)')
    parser.add_argument('--only', choices=('both', *IMPLS), default='both')
    parser.add_argument('--patches', default='', help='run loopnode with proposed changes (bench/patched_loopnode.py), '
                        'e.g. compactjson; the table is then not written to RESULTS.md unless --write-patched')
    parser.add_argument('--loopnode-env', default='', help='extra environment for loopnode, KEY=VALUE,... '
                        '(e.g. MALLOC_ARENA_MAX=2,MALLOC_MMAP_THRESHOLD_=131072)')
    parser.add_argument('--write-patched', action='store_true', help='write RESULTS.md even with --patches')
    parser.add_argument('--skip-drain', action='store_true', help='do not run bench/outbox_drain.py')
    parser.add_argument('--quick', action='store_true', help='idle 10 s, 1 round, 2 s REST, 50 calls; no write')
    parser.add_argument('--no-write', action='store_true', help='print only, leave bench/RESULTS.md alone')
    parser.add_argument('--keep', action='store_true', help='keep the work folder (logs) and print its path')
    args = parser.parse_args(argv)
    if args.quick:
        args.idle, args.rounds, args.rest_seconds, args.sio_n, args.batch_n, args.starts = 10, 1, 2, 50, 10, 1
        args.ann_n, args.conv_repeats, args.trainer_rounds = 50, 1, 1
        args.no_write, args.skip_drain = True, True
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    for python in (procs.LOOPNODE_PYTHON, procs.UPSTREAM_PYTHON):
        if not python.exists():
            log.error('%s is missing: run `make bench`, which creates it', python)
            return 2
    started = dt.datetime.now(dt.timezone.utc)
    work = Path(tempfile.mkdtemp(prefix='loopnode-bench-'))
    try:
        bench = Bench(args, work)
        bench.run()
    finally:
        if args.keep:
            log.info('work folder kept: %s', work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.stdout.write(report.text_table(bench.results) + '\n')
    variant = args.patches or args.loopnode_env or args.sio_client != 'threaded'
    if not args.no_write and args.only == 'both' and (not variant or args.write_patched):
        parts = [f'patches {args.patches}' if args.patches else '', f'env {args.loopnode_env}' if args.loopnode_env else '',
                 f'{args.sio_client} Socket.IO client' if args.sio_client != 'threaded' else '']
        report.write_section(procs.ROOT / 'bench' / 'RESULTS.md', results_body(bench, args, started),
                             ', '.join(p for p in parts if p))
        log.info('wrote %s', procs.ROOT / 'bench' / 'RESULTS.md')
    return 0


if __name__ == '__main__':
    sys.exit(main())
