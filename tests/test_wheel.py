"""The built distribution (issue 17): a clean wheel, `twine check`, and the host wheelhouse installing offline.

The wheel must hold only `loopnode` (the examples live in it as `loopnode.examples`), so nothing collides
with another distribution's top-level `examples`. The installed test runs from folders outside the checkout.
"""
from __future__ import annotations

import email.parser
import os
import re
import shlex
import signal
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import requests

import loopnode
from tests.helpers import free_port, until

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent  # the venv running the tests (.venv, or .venv310 in CI)


def run(*command: str | Path, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f'{command}: {result.stdout[-2000:]}\n{result.stderr[-2000:]}'
    return result


@pytest.fixture(scope='module')
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` of this checkout, as `make dist`: the sdist, then the wheel built from it."""
    out = tmp_path_factory.mktemp('dist')
    run(sys.executable, '-m', 'build', '--outdir', out, REPO)
    return out


@pytest.fixture(scope='module')
def wheel(dist: Path) -> Path:
    (found,) = dist.glob('loopnode-*.whl')
    return found


@pytest.mark.timeout(300)
def test_wheel_holds_only_loopnode_with_the_examples_inside(wheel: Path) -> None:
    """No top-level `examples`; the example package, templates, license and full metadata are in it."""
    names = zipfile.ZipFile(wheel).namelist()
    version = loopnode.__version__
    assert {name.split('/')[0] for name in names} == {'loopnode', f'loopnode-{version}.dist-info'}
    assert 'loopnode/examples/color_detector/logic.py' in names
    assert 'loopnode/examples/color_detector/README.md' in names
    assert 'loopnode/detector/page/templates/detector_page/index.html' in names
    assert any(name.endswith('.dist-info/licenses/LICENSE') or name.endswith('.dist-info/LICENSE') for name in names)
    metadata = email.parser.Parser().parsestr(
        zipfile.ZipFile(wheel).read(f'loopnode-{version}.dist-info/METADATA').decode())
    assert metadata['Name'] == 'loopnode' and metadata['Version'] == version
    assert metadata['Requires-Python'] == '>=3.10'
    assert 'Programming Language :: Python :: 3.10' in metadata.get_all('Classifier')
    assert metadata['License'] == 'MIT' or metadata['License-Expression'] == 'MIT'
    assert metadata.get_all('Project-URL')
    top_level = f'loopnode-{version}.dist-info/top_level.txt'
    if top_level in names:
        assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ['loopnode']


@pytest.mark.timeout(300)
def test_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    """Both distributions of `make dist` pass `twine check --strict` (metadata and README render)."""
    built = sorted(p.name for p in dist.iterdir())
    assert built == [f'loopnode-{loopnode.__version__}-py3-none-any.whl', f'loopnode-{loopnode.__version__}.tar.gz']
    result = run(sys.executable, '-m', 'twine', 'check', '--strict', *sorted(dist.iterdir()))
    assert result.stdout.count('PASSED') == 2, result.stdout


@pytest.fixture(scope='module')
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make wheelhouse` for this machine, then a fresh venv (outside the checkout) installed from it, no index."""
    wheelhouse = tmp_path_factory.mktemp('offline') / 'wheelhouse'
    # this venv's make variables; -o: never (re)install it from here, whatever the stamp's age
    make_env = {k: v for k, v in os.environ.items() if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL')}
    subprocess.run(['make', '--no-print-directory', '-o', f'{VENV}/.installed', 'wheelhouse', f'VENV={VENV}',
                    f'WHEELHOUSE={wheelhouse}'], cwd=REPO, env=make_env, check=True, capture_output=True, timeout=600)
    target = tmp_path_factory.mktemp('robot') / 'venv'
    venv.EnvBuilder(with_pip=True).create(target)
    environ = {**os.environ, 'PIP_NO_INDEX': '1', 'PIP_FIND_LINKS': str(wheelhouse), 'PIP_CONFIG_FILE': os.devnull}
    subprocess.run([str(target / 'bin' / 'python'), '-m', 'pip', 'install', '--quiet', '--no-index',
                    '--find-links', str(wheelhouse), 'loopnode'], check=True, timeout=600, env=environ,
                   cwd=target.parent)
    assert (wheelhouse / 'systemd' / 'loopnode-detector.service').is_file()
    return target


@pytest.mark.timeout(900)
def test_installed_wheel_runs_the_demo_from_another_folder(installed: Path, tmp_path: Path) -> None:
    """From the offline-installed venv, in an unrelated folder: `loopnode demo` serves detections to the curl
    command it prints; `import examples` fails there, `loopnode.examples` imports."""
    python = installed / 'bin' / 'python'
    missing = subprocess.run([str(python), '-c', 'import examples'], cwd=tmp_path, capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 1 and "No module named 'examples'" in missing.stderr
    run(python, '-c', 'import loopnode.examples.color_detector', cwd=tmp_path, timeout=60)
    loop_port, port = free_port(), free_port()
    log_path = tmp_path / 'demo.log'
    with log_path.open('wb') as log_file:
        process = subprocess.Popen([str(installed / 'bin' / 'loopnode'), 'demo', '--loop-port', str(loop_port),
                                    '--port', str(port), '--data', 'demo-data'], cwd=tmp_path, stdout=log_file,
                                   stderr=subprocess.STDOUT)
    try:
        command = until(lambda: re.search(r'detect: +(curl -F file=@\S+ \S+/detect)\n', log_path.read_text()),
                        timeout=120, message='the demo printed its curl command').group(1)
        words = shlex.split(command)
        sample, url = words[2].removeprefix('file=@'), words[3]
        assert Path(sample).is_relative_to(tmp_path)
        with open(sample, 'rb') as f:
            body = requests.post(url, files={'file': f}, timeout=30).json()
        detections = body['box_detections'] + body['point_detections']
        assert detections and {d['model_name'] for d in detections} == {'1.1'}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.timeout(900)
def test_installed_wheel_checks_the_example_logic(installed: Path, tmp_path: Path) -> None:
    """`loopnode check --logic loopnode.examples.color_detector:ColorBlobsFactory` works from the installed wheel."""
    env_file = tmp_path / 'detector.env'
    env_file.write_text('LOOP_HOST=http://127.0.0.1:9\nLOOP_ORGANIZATION=o\nLOOP_PROJECT=p\n'
                        f'DATA_FOLDER={tmp_path / "data"}\nNODE_PORT=0\n', encoding='utf-8')
    result = subprocess.run([str(installed / 'bin' / 'loopnode'), 'check', '--env', str(env_file), '--no-unit',
                             '--logic',
                             'loopnode.examples.color_detector:ColorBlobsFactory'],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1  # nothing listens on port 9
    assert ('✔ logic loopnode.examples.color_detector:ColorBlobsFactory: imports; a detector factory for format '
            'color_blobs') in result.stdout
