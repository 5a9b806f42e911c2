"""Benches of the other node types against one devloop: annotator round trips, a converter pass (issue 16).

Used by run_bench.py (`make bench`), which starts devloop and passes its URL. Each function returns figures per
implementation, in the shape of `Bench.results` (keys of report.METRICS).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

import requests

import procs
from load import median, percentile

log = logging.getLogger('bench.nodes')
ANNOTATOR_ORG, ANNOTATOR_PROJECT = procs.ORG, procs.PROJECT
CONVERTER_ORG = 'convbench'
CONVERTER_PROJECTS = ('models-a', 'models-b')  # devloop makes at most 10 trainings (models) per generated project


def loopnode_annotator(port: int, data: Path, loop_port: int, log_path: Path) -> procs.Proc:
    """loopnode's annotator with the shipped MockAnnotatorLogic (a rect per event)."""
    env = dict(procs.base_env(), DATA_FOLDER=str(data), LOOP_HOST=f'http://127.0.0.1:{loop_port}',
               LOOP_ORGANIZATION=ANNOTATOR_ORG, LOOP_PROJECT=ANNOTATOR_PROJECT, NODE_NAME='bench-loopnode-annotator',
               NODE_PORT=str(port), LOG_LEVEL='WARNING')
    argv = [str(procs.LOOPNODE_PYTHON), '-m', 'loopnode', 'annotator', '--logic',
            'loopnode.annotator:MockAnnotatorLogic']
    proc = procs.Proc('loopnode-annotator', argv, env, log_path)
    proc.url = f'http://127.0.0.1:{port}'
    return proc


def upstream_annotator(port: int, data: Path, loop_port: int, log_path: Path) -> procs.Proc:
    """Upstream 0.27.0's AnnotatorNode under uvicorn with the compat test's circle tool (compat/)."""
    env = dict(procs.base_env(), DATA_FOLDER=str(data), LOOP_HOST=f'127.0.0.1:{loop_port}',
               LOOP_ORGANIZATION=ANNOTATOR_ORG, LOOP_PROJECT=ANNOTATOR_PROJECT)
    argv = [str(procs.UPSTREAM_PYTHON), str(procs.ROOT / 'compat' / 'run_upstream_annotator.py'), '--port',
            str(port), '--name', 'bench-upstream-annotator', '--log-level', 'warning']
    proc = procs.Proc('upstream-annotator', argv, env, log_path)
    proc.url = f'http://127.0.0.1:{port}'
    return proc


def floor_annotator(client: str) -> procs.Starter:
    """bench/annotator_floor.py: acks at once, with the threaded client (loopnode's) or the async one (upstream's)."""
    def start(port: int, data: Path, loop_port: int, log_path: Path) -> procs.Proc:
        python = procs.LOOPNODE_PYTHON if client == 'threaded' else procs.UPSTREAM_PYTHON
        argv = [str(python), str(procs.ROOT / 'bench' / 'annotator_floor.py'), client, f'http://127.0.0.1:{loop_port}']
        return procs.Proc(f'floor-{client}', argv, procs.base_env(), log_path)
    return start


ANNOTATOR_STARTERS: dict[str, procs.Starter] = {'loopnode': loopnode_annotator, 'upstream': upstream_annotator,
                                                'floor_threaded': floor_annotator('threaded'),
                                                'floor_async': floor_annotator('async')}
FLOOR_OF = {'loopnode': 'floor_threaded', 'upstream': 'floor_async'}


def wait_for(cond: Callable[[], Any], timeout: float, what: str, proc: procs.Proc | None = None) -> Any:
    """Poll `cond` every 50 ms until it is truthy; fail with `what` (and the process's log) after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f'{proc.name} exited while waiting for {what}:\n{proc.log_tail()}')
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f'timeout waiting for {what}' + (f':\n{proc.log_tail()}' if proc else ''))


def connected_sids(loop_url: str) -> set[str]:
    nodes = requests.get(f'{loop_url}/admin/annotators', timeout=10).json()['connected']
    return {n['sid'] for n in nodes}


def annotator_bench(loop_url: str, work: Path, impls: list[str], free_port: Callable[[], int], rounds: int, n: int,
                    settle: float) -> dict[str, dict[str, float]]:
    """Both annotators connected to devloop at once; `handle_user_input` through devloop's admin API, alternating.

    The first call downloads the image (not timed); the timed calls hit the annotator's cached copy. Figures:
    idle RSS after `settle` seconds connected, round trip median and p95 (HTTP to devloop → Socket.IO → ack).
    """
    loop_port = int(loop_url.rsplit(':', 1)[1])
    image = requests.get(f'{loop_url}/api/{ANNOTATOR_ORG}/projects/{ANNOTATOR_PROJECT}/data', timeout=10
                         ).json()['image_ids'][0]
    nodes: dict[str, procs.Proc] = {}
    sids: dict[str, str] = {}
    results: dict[str, dict[str, float]] = {i: {} for i in impls}
    kinds = impls + [FLOOR_OF[i] for i in impls]
    try:
        for impl in kinds:
            before = connected_sids(loop_url)
            data = work / f'annotator-{impl}'
            data.mkdir(parents=True, exist_ok=True)
            node = ANNOTATOR_STARTERS[impl](free_port(), data, loop_port, work / f'annotator-{impl}.log').start()
            nodes[impl] = node
            new = wait_for(lambda: connected_sids(loop_url) - before, 60, f'{impl} annotator connecting', node)
            sids[impl] = next(iter(new))
        time.sleep(settle)
        for impl in impls:
            results[impl]['ann_idle_rss'] = procs.rss_mib(nodes[impl].pid)
        session = requests.Session()

        def call(impl: str, i: int) -> float:
            body = {'frontend_id': f'bench-{impl}', 'event_type': 'left_mouse_down', 'x': 10 + i % 400,
                    'y': 20 + i % 300, 'image_uuid': image, 'organization': ANNOTATOR_ORG,
                    'project': ANNOTATOR_PROJECT}
            t0 = time.perf_counter()
            response = session.post(f'{loop_url}/admin/annotators/{sids[impl]}/handle_user_input', json=body,
                                    timeout=40)
            elapsed = (time.perf_counter() - t0) * 1000
            ack = response.json().get('ack') if response.status_code == 200 else None
            if not (isinstance(ack, dict) and ack.get('success') is True and str(ack.get('payload')).startswith('<')):
                raise RuntimeError(f'{impl} annotator: unexpected answer {response.status_code} {response.text[:300]}')
            return elapsed

        for impl in kinds:
            for i in range(5):  # image download + warm-up
                call(impl, i)
        latencies: dict[str, list[float]] = {i: [] for i in kinds}
        for r in range(rounds):
            for impl in (kinds if r % 2 == 0 else list(reversed(kinds))):
                latencies[impl].extend(call(impl, i) for i in range(n))
                log.info('%s annotator round %d: median %.2f ms', impl, r, median(latencies[impl][-n:]))
        for impl in impls:
            results[impl]['ann_p50'] = median(latencies[impl])
            results[impl]['ann_p95'] = percentile(latencies[impl], 0.95)
            results[impl]['ann_load_rss'] = procs.rss_mib(nodes[impl].pid)
            results[impl]['ann_floor_p50'] = median(latencies[FLOOR_OF[impl]])
    finally:
        for node in nodes.values():
            node.stop()
    return results


def loopnode_converter(port: int, data: Path, loop_port: int, log_path: Path) -> procs.Proc:
    """loopnode's converter with MockConverterLogic without its 1 s wait (bench/loopnode_converter_logic.py)."""
    env = dict(procs.base_env(), PYTHONPATH=str(procs.ROOT / 'bench'), DATA_FOLDER=str(data),
               LOOP_HOST=f'http://127.0.0.1:{loop_port}', LOOP_ORGANIZATION=CONVERTER_ORG,
               NODE_NAME='bench-loopnode-converter', NODE_PORT=str(port), LOG_LEVEL='WARNING',
               CONVERTER_POLL_INTERVAL='3600')
    argv = [str(procs.LOOPNODE_PYTHON), '-m', 'loopnode', 'converter', '--logic',
            'loopnode_converter_logic:instant_mock']
    proc = procs.Proc('loopnode-converter', argv, env, log_path)
    proc.url = f'http://127.0.0.1:{port}'
    return proc


def converted_count(loop_url: str) -> int:
    total = 0
    for project in CONVERTER_PROJECTS:
        models = requests.get(f'{loop_url}/api/{CONVERTER_ORG}/projects/{project}/models', timeout=10).json()['models']
        total += sum('mocked_converted' in m['formats'] for m in models)
    return total


def make_converter_projects(loop_url: str) -> int:
    """Two projects of CONVERTER_ORG with 10 models (format `mocked`) each; answers the number of models."""
    for project in CONVERTER_PROJECTS:
        requests.delete(f'{loop_url}/api/{CONVERTER_ORG}/projects/{project}', timeout=60)  # 404 the first time
        response = requests.post(f'{loop_url}/admin/projects', json={
            'organization': CONVERTER_ORG, 'project': project, 'images': 2, 'trainings': 10, 'seed': 1}, timeout=60)
        response.raise_for_status()
    return sum(len(requests.get(f'{loop_url}/api/{CONVERTER_ORG}/projects/{p}/models', timeout=10).json()['models'])
               for p in CONVERTER_PROJECTS)


def converter_bench(loop_url: str, work: Path, free_port: Callable[[], int], repeats: int, settle: float
                    ) -> dict[str, float]:
    """loopnode's converter only (upstream 0.27.0 has no converter: removed in 0.10.0).

    Each repeat regenerates the two projects (20 models without the target format), starts a converter and
    times from `exec` until devloop lists the target format on all 20 (/status times have whole seconds), checks
    the pass report, and takes the idle RSS `settle` seconds after the pass.
    """
    loop_port = int(loop_url.rsplit(':', 1)[1])
    walls, rss = [], []
    for r in range(repeats):
        models = make_converter_projects(loop_url)
        node = loopnode_converter(free_port(), work / f'converter-{r}', loop_port, work / f'converter-{r}.log')
        node.start()
        try:
            wait_for(lambda: converted_count(loop_url) >= models, 120, 'the converter pass', node)
            walls.append(time.perf_counter() - node.started_at)

            def last_pass() -> Any:
                status = requests.get(f'{node.url}/status', timeout=10).json()['converter']
                return status['last_pass'] if not status['running'] and status['last_pass'] else None

            report = wait_for(last_pass, 30, 'the pass report', node)
            if report['converted'] != models:
                raise RuntimeError(f'converter pass converted {report["converted"]} of {models}')
            time.sleep(settle)
            rss.append(procs.rss_mib(node.pid))
            log.info('converter %d: %d models, start → all converted %.2f s, idle RSS %.1f MiB', r, models,
                     walls[-1], rss[-1])
        finally:
            node.stop()
    return {'conv_wall': median(walls), 'conv_idle_rss': median(rss)}
