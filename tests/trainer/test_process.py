"""`loopnode trainer` as a process: the CLI, SIGTERM during `running` (TF10), exit codes (TF14), sd_notify."""
from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
import requests

from loopnode.devloop import DevLoop
from tests.helpers import free_port, until
from tests.trainer.process import TrainerProcess, kill_group_leftovers, mock_training_processes


@pytest.fixture
def processes() -> list[TrainerProcess]:
    started: list[TrainerProcess] = []
    yield started
    for p in started:
        p.stop()


def begin(loop: DevLoop, process: TrainerProcess) -> dict:
    until(lambda: any(n['uuid'] == process.uuid for n in
                      requests.get(f'{loop.url}/admin/nodes', timeout=5).json()['nodes']), timeout=15)
    return requests.post(f'{loop.url}/admin/trainers/{process.uuid}/begin_training', json={}, timeout=30).json()['ack']


@pytest.mark.timeout(90)
def test_sigterm_in_running_resumes_at_train_model_downloaded(devloop: DevLoop, tmp_path: Path,
                                                              processes: list[TrainerProcess]) -> None:
    """TF10: SIGTERM during `running` → exit 0, no training process left, the record says
    `train_model_downloaded`; the restarted trainer resumes and reaches `running` again."""
    data = tmp_path / 'data'
    first = TrainerProcess(data, devloop.url).start()
    processes.append(first)
    assert begin(devloop, first)['success'] is True
    until(lambda: first.state() == 'running' and mock_training_processes(data), timeout=20)
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0
    assert mock_training_processes(data) == []
    assert first.record()['training_state'] == 'train_model_downloaded'
    second = TrainerProcess(data, devloop.url).start()
    processes.append(second)
    until(lambda: second.state() == 'running', timeout=20)
    assert second.record()['id'] == first.record()['id']


@pytest.mark.timeout(90)
def test_kill_9_in_running_the_restart_kills_the_left_behind_training(devloop: DevLoop, tmp_path: Path,
                                                                      processes: list[TrainerProcess]) -> None:
    """§7 / §4: kill -9 during `running` leaves the training process group alive; the restarted trainer kills it
    at start (pid file in {DATA}/executor_pids/{uuid}) before it resumes and starts a new one."""
    data = tmp_path / 'data'
    first = TrainerProcess(data, devloop.url).start()
    processes.append(first)
    assert begin(devloop, first)['success'] is True
    left = until(lambda: first.state() == 'running' and mock_training_processes(data), timeout=20)
    assert first.process is not None
    first.process.kill()
    first.wait(10)
    try:
        assert mock_training_processes(data) == left and list((data / 'executor_pids' / first.uuid).iterdir())
        second = TrainerProcess(data, devloop.url).start()
        processes.append(second)
        until(lambda: not set(left) & set(mock_training_processes(data)), timeout=10, message='old group killed')
        until(lambda: second.state() == 'running' and mock_training_processes(data), timeout=20)
        assert 'left behind by an earlier process of this node' in second.log()
    finally:
        kill_group_leftovers([pid for pid in left if pid in mock_training_processes(data)])  # only ours


@pytest.mark.timeout(60)
def test_restart_event_and_idle_timeout_exit_codes(devloop: DevLoop, tmp_path: Path,
                                                   processes: list[TrainerProcess]) -> None:
    """TF14: `restart` → exit 75; the idle timeout → exit 0 with the Loop unreachable."""
    node = TrainerProcess(tmp_path / 'a', devloop.url).start()
    processes.append(node)
    begin_ok = until(lambda: any(n['uuid'] == node.uuid for n in
                                 requests.get(f'{devloop.url}/admin/nodes', timeout=5).json()['nodes']))
    assert begin_ok
    requests.post(f'{devloop.url}/admin/trainers/{node.uuid}/restart', json={'timeout': 5}, timeout=10)
    assert node.wait(20) == 75
    idle = TrainerProcess(tmp_path / 'b', f'http://127.0.0.1:{free_port()}', TRAINER_IDLE_TIMEOUT_SEC='1').start()
    processes.append(idle)
    assert idle.wait(20) == 0
    assert 'idle for more than 1 s' in idle.log()


@pytest.mark.timeout(60)
def test_sd_notify_ready_and_stopping(devloop: DevLoop, tmp_path: Path, processes: list[TrainerProcess]) -> None:
    """The trainer tells systemd READY=1 when it listens and STOPPING=1 at shutdown (like the detector)."""
    address = str(tmp_path / 'notify.sock')
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(20)
        node = TrainerProcess(tmp_path / 'data', devloop.url, NOTIFY_SOCKET=address).start()
        processes.append(node)
        assert sock.recv(100) == b'READY=1'
        node.signal(signal.SIGTERM)
        assert sock.recv(100) == b'STOPPING=1'
        assert node.wait(20) == 0
