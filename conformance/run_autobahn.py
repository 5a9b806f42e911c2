"""Autobahn|Testsuite's fuzzing client against an echo endpoint on our HttpServer; exits 1 when the goal is missed.

Run by `make test-conformance` (conformance/Makefile.inc builds the Python 2.7 venv with `wstest`):

    .venv/bin/python -m conformance.run_autobahn --wstest .venv-autobahn/bin/wstest [--driver simple-websocket]

Every case but 12.* and 13.* (permessage-deflate, declined). Reports go to conformance/reports/<driver>/
(git-ignored): Autobahn's HTML and JSON, and summary.md with the tables docs/websocket-conformance.md shows.
"""
from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
from pathlib import Path

from loopnode.service.server import HttpServer

from .echo import DRIVERS, echo_app
from .summary import DECLINED_GROUPS, render_markdown, summarize

log = logging.getLogger('conformance')
HERE = Path(__file__).resolve().parent


def server_cpu() -> float:
    """CPU seconds of this process (the echo server; wstest is a child): less load-bound than wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fuzzing_spec(url: str, agent: str, outdir: Path, cases: list[str]) -> dict:
    """The fuzzingclient spec: one server, the given cases, compression groups excluded."""
    return {'outdir': str(outdir), 'servers': [{'agent': agent, 'url': url}], 'cases': cases,
            'exclude-cases': [f'{group}.*' for group in DECLINED_GROUPS], 'exclude-agent-cases': {}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--wstest', required=True, help='the wstest program (Autobahn|Testsuite, Python 2.7)')
    parser.add_argument('--driver', choices=sorted(DRIVERS), default='fastws', help='WebSocket driver under test')
    parser.add_argument('--cases', nargs='+', default=['*'], help="case patterns, e.g. '9.*' (default: all)")
    parser.add_argument('--reports', type=Path, default=HERE / 'reports', help='report folder (git-ignored)')
    parser.add_argument('--timeout', type=float, default=1800.0, help='seconds the whole run may take')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    logging.getLogger('loopnode').setLevel(logging.ERROR)

    outdir = (args.reports / args.driver).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    server = HttpServer(echo_app(args.driver), '127.0.0.1', 0, name='conformance-http')
    server.start()
    cpu_before = server_cpu()
    try:
        spec_path = outdir / 'fuzzingclient.json'
        url = server.url.replace('http://', 'ws://')
        spec_path.write_text(json.dumps(fuzzing_spec(url, args.driver, outdir, args.cases), indent=2))
        log.info('wstest fuzzingclient against %s (%s), cases %s', url, args.driver, ' '.join(args.cases))
        wstest = [str(Path(args.wstest).absolute()), '-m', 'fuzzingclient', '-s', str(spec_path)]
        with open(outdir / 'wstest.log', 'wb') as wstest_log:
            result = subprocess.run(wstest, cwd=outdir, stdout=wstest_log, stderr=subprocess.STDOUT,
                                    timeout=args.timeout)
    finally:
        cpu = server_cpu() - cpu_before
        server.shutdown(grace=2.0)
    if result.returncode != 0:
        log.error('wstest exited with %d; see %s', result.returncode, outdir / 'wstest.log')
        return 2
    summary = summarize(json.loads((outdir / 'index.json').read_text()), args.driver)
    summary.server_cpu_s = cpu
    text = render_markdown(summary)
    (outdir / 'summary.md').write_text(text + '\n')
    log.info('%s\n\nReports: %s', text, outdir)
    return 0 if summary.passed else 1


if __name__ == '__main__':
    sys.exit(main())
