"""Trainer bench: begin_training → idle with 200 images, loopnode versus learning_loop_node 0.27.0, one devloop.

    .venv/bin/python bench/trainer_bench.py [--images 200] [--rounds 2] [--idle 10]

Both trainers run the same small logic (bench/loopnode_trainer_logic.py, compat/run_upstream_trainer.py), each
training gets a fresh project of `--images` complete images (so the image cache starts empty), and "idle" means
every image's detections arrived at devloop and the trainer deleted its last-training file. RSS is the whole
process tree from /proc, measured while connected and idle before the first training. Results are printed
and written to bench/RESULTS.md (section "Trainer").
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import LOOPNODE_PYTHON, ROOT, Proc, base_env, devloop, rss_mib, wait_http  # noqa: E402
from report import machine  # noqa: E402

UPSTREAM_PYTHONS = (ROOT / '.venv-upstream' / 'bin' / 'python', ROOT / '.venv-compat' / 'bin' / 'python')


SECTION = '## Trainer: loopnode vs learning_loop_node 0.27.0 (`bench/trainer_bench.py`)'


def write_trainer_section(path: Path, body: str) -> None:
    """Replace (or append) the trainer section of RESULTS.md, keeping every other section."""
    import re
    text = path.read_text() if path.exists() else '# Benchmark results\n'
    chunks = re.split(r'(?m)^(?=## )', text)
    section = f'{SECTION}\n\n{body.rstrip()}\n\n'
    for i, chunk in enumerate(chunks):
        if chunk.split('\n', 1)[0] == SECTION:
            chunks[i] = section
            break
    else:
        chunks[-1] = chunks[-1].rstrip('\n') + '\n\n'
        chunks.append(section)
    path.write_text(''.join(chunks).rstrip('\n') + '\n')


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def loopnode_trainer(data: Path, loop_port: int, log_path: Path, log_level: str = 'WARNING') -> Proc:
    port = free_port()
    env = dict(base_env(), PYTHONPATH=str(ROOT / 'bench'), DATA_FOLDER=str(data), NODE_PORT=str(port),
               LOOP_HOST=f'http://127.0.0.1:{loop_port}', LOG_LEVEL=log_level)
    argv = [str(LOOPNODE_PYTHON), '-m', 'loopnode', 'trainer', '--logic', 'loopnode_trainer_logic:SmallTrainerLogic',
            '--name', 'bench-loopnode-trainer']
    proc = Proc('loopnode', argv, env, log_path)
    proc.url = f'http://127.0.0.1:{port}'
    return proc


def upstream_trainer(data: Path, loop_port: int, log_path: Path) -> Proc:
    python = next((p for p in UPSTREAM_PYTHONS if p.exists()), None)
    if python is None:
        raise SystemExit('no .venv-upstream or .venv-compat with learning_loop_node 0.27.0 (make test-compat)')
    env = dict(base_env(), DATA_FOLDER=str(data), LOOP_HOST=f'127.0.0.1:{loop_port}')
    argv = [str(python), str(ROOT / 'compat' / 'run_upstream_trainer.py'), '--port', str(free_port()),
            '--name', 'bench-upstream-trainer', '--log-level', 'warning']
    return Proc('upstream', argv, env, log_path)


def node_uuid(loop_url: str, name: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = requests.get(f'{loop_url}/admin/nodes', timeout=5).json()['nodes']
        found = [n['uuid'] for n in nodes if n['name'] == name and n['uuid']]
        if found:
            return found[0]
        time.sleep(0.05)  # noqa: TID251 - polling another process
    raise RuntimeError(f'{name} never connected')


def one_training(loop_url: str, uuid: str, data: Path, project: str, images: int) -> float:
    body = {'project': project, 'states': {'complete': images}, 'box_categories': 1, 'point_categories': 0}
    requests.post(f'{loop_url}/admin/projects', json=body, timeout=120).raise_for_status()
    started = time.perf_counter()
    ack = requests.post(f'{loop_url}/admin/trainers/{uuid}/begin_training?project={project}', json={},
                        timeout=60).json()['ack']
    if not ack['success']:
        raise RuntimeError(f'begin_training refused: {ack}')
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        posted = requests.get(f'{loop_url}/admin/received/detections', timeout=10).json()['detections']
        done = sum(1 for d in posted if d['project'] == project)
        if done >= images and not list(data.glob('last_training__*.json')):
            return time.perf_counter() - started
        time.sleep(0.05)  # noqa: TID251 - polling another process
    raise RuntimeError(f'training of {project} did not finish')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--idle', type=float, default=10.0, help='seconds idle before measuring RSS')
    parser.add_argument('--no-write', action='store_true')
    parser.add_argument('--log-level', default='WARNING', help="loopnode's LOG_LEVEL (INFO shows each step's time)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix='trainer-bench-'))
    loop_port = free_port()
    loop = devloop(loop_port, tmp / 'devloop', tmp / 'devloop.log').start()
    procs: list[Proc] = []
    results: dict[str, dict[str, list[float]]] = {'loopnode': {'wall': [], 'rss': []},
                                                  'upstream': {'wall': [], 'rss': []}}
    try:
        wait_http(f'{loop.url}/api/status', proc=loop)
        starters = {'loopnode': lambda *a: loopnode_trainer(*a, log_level=args.log_level), 'upstream': upstream_trainer}
        names = {'loopnode': 'bench-loopnode-trainer', 'upstream': 'bench-upstream-trainer'}
        nodes = {}
        for kind, starter in starters.items():
            data = tmp / f'{kind}-data'
            data.mkdir()
            proc = starter(data, loop_port, tmp / f'{kind}.log').start()
            procs.append(proc)
            nodes[kind] = (proc, data, node_uuid(loop.url, names[kind]))
        time.sleep(args.idle)  # noqa: TID251 - both trainers idle and connected, then the RSS is read
        for kind, (proc, _, _) in nodes.items():
            results[kind]['rss'].append(rss_mib(proc.pid))
        for n in range(args.rounds):
            for kind, (proc, data, uuid) in nodes.items():
                wall = one_training(loop.url, uuid, data, f'bench-{kind}-{n}', args.images)
                results[kind]['wall'].append(wall)
                print(f'round {n + 1}: {kind} begin → idle {wall:.2f} s', flush=True)
                time.sleep(6)  # noqa: TID251 - let upstream's 5 s cycle report idle before the next begin
        for kind, (proc, _, _) in nodes.items():
            results[kind]['rss_after'] = [rss_mib(proc.pid)]
    finally:
        for proc in procs:
            proc.stop()
        loop.stop()
    summary = {kind: {key: statistics.median(values) for key, values in r.items()} for kind, r in results.items()}
    rows = [('begin_training → idle, %d images (median of %d)' % (args.images, args.rounds), 's', 'wall'),
            ('RSS idle, connected, before the first training', 'MiB', 'rss'),
            ('RSS after the trainings', 'MiB', 'rss_after')]
    lines = ['| Figure | Unit | loopnode | upstream 0.27.0 | loopnode / upstream |', '|---|---|---|---|---|']
    for title, unit, key in rows:
        a, b = summary['loopnode'][key], summary['upstream'][key]
        lines.append(f'| {title} | {unit} | {a:.3g} | {b:.3g} | {a / b:.3g} |')
    table = '\n'.join(lines)
    print(table)
    print(json.dumps(results))
    if not args.no_write:
        body = (f'Run {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}. Command: `.venv/bin/python '
                f'bench/trainer_bench.py --images {args.images} --rounds {args.rounds}`.\n\nMachine: {machine()}.\n\n'
                f'Both trainers run the same small logic (5 epochs of 0.2 s, two formats, one box per image); every '
                f'training has a fresh project of {args.images} complete images. Goals: wall time ≤ 0.5×, idle RSS '
                f'≤ 0.7×.\n\n{table}\n\nRaw: `{json.dumps(results)}`\n')
        write_trainer_section(ROOT / 'bench' / 'RESULTS.md', body)
    return 0


if __name__ == '__main__':
    sys.exit(main())
