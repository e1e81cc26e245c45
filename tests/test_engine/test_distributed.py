"""Distributed active learning on CPU (gloo) through the toolbox-style launcher."""
import ipaddress
import os
import os.path as osp
import socket
import subprocess
import sys
import time
from typing import List, Set, Tuple

import pytest

from mmal.testing.al_runs import REPO, al_train, read_state
from mmal.testing.classification_folder import (answer_query, query_rows,
                                                 small_config, write_folder)

DEMO = osp.join(REPO, 'configs', 'demo', 'resnet18_digits_lloss.py')
SHORT = ['train_cfg.cycles=2', 'train_cfg.initial_size=40',
         'train_cfg.query_size=20', 'train_cfg.subset_size=100',
         'train_cfg.max_epochs=1', 'train_dataloader.batch_size=16']


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> List[int]:
    """``pid`` and its descendants (Linux ``/proc``)."""
    pids, index = [pid], 0
    while index < len(pids):
        task_dir = f'/proc/{pids[index]}/task'
        for task in (os.listdir(task_dir) if osp.isdir(task_dir) else ()):
            try:
                with open(f'{task_dir}/{task}/children') as f:
                    pids += [int(child) for child in f.read().split()]
            except OSError:
                pass  # gone meanwhile
        index += 1
    return pids


def listening_sockets(pids: List[int]) -> Set[Tuple[str, int]]:
    """(address, port) of the TCP sockets the processes listen on, read from
    ``/proc/net/tcp{,6}`` (addresses as 32-bit words in host order)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f'/proc/{pid}/fd'):
                target = os.readlink(f'/proc/{pid}/fd/{fd}')
                if target.startswith('socket:['):
                    inodes.add(target[8:-1])
        except OSError:
            pass
    found = set()
    for table in ('tcp', 'tcp6'):
        with open(f'/proc/net/{table}') as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] != '0A' or fields[9] not in inodes:  # 0A: LISTEN
                    continue
                address, port = fields[1].split(':')
                raw = bytes.fromhex(address)
                ip = ipaddress.ip_address(b''.join(raw[i:i + 4][::-1]
                                                   for i in range(0, len(raw), 4)))
                found.add((str(getattr(ip, 'ipv4_mapped', None) or ip),
                           int(port, 16)))
    return found


def dist_al_train(config, work_dir, *args, gpus=2):
    """``tools/dist_al_train.sh CONFIG 2 ...`` as a user runs it; the result's
    ``listening`` holds the (address, port) its processes listened on, and
    ``port`` the rendezvous port."""
    port = free_port()
    env = dict(os.environ, PORT=str(port), PYTHON=sys.executable,
               OMP_NUM_THREADS='1',
               PYTHONPATH=REPO)
    command = ['bash', osp.join(REPO, 'tools', 'dist_al_train.sh'), config,
               str(gpus), '--work-dir', work_dir, *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    listening, deadline = set(), time.monotonic() + 600
    while True:
        try:
            out, err = process.communicate(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            listening |= listening_sockets(process_tree(process.pid))
            if time.monotonic() > deadline:
                process.kill()
                raise
    result = subprocess.CompletedProcess(command, process.returncode, out, err)
    if result.returncode != 0:
        raise AssertionError(f'dist_al_train.sh failed:\n{result.stdout[-3000:]}'
                             f'\n{result.stderr[-5000:]}')
    result.listening, result.port = listening, port
    return result


@pytest.fixture(scope='module')
def two_process_launch(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('dist') / 'work')
    return work_dir, dist_al_train(DEMO, work_dir, '--cfg-options', *SHORT)


@pytest.fixture(scope='module')
def two_process_run(two_process_launch):
    return two_process_launch[0]


def test_servers_listen_on_loopback_only(two_process_launch):
    """The rendezvous store (torchrun's binds every interface) and gloo's
    connections listen on 127.0.0.1 only."""
    result = two_process_launch[1]
    assert ('127.0.0.1', result.port) in result.listening
    assert {address for address, _ in result.listening} == {'127.0.0.1'}


def test_two_process_demo(two_process_run):
    work_dir = two_process_run
    states = [f for f in os.listdir(work_dir) if f.endswith('.json')]
    assert states == ['al_state.json']
    state = read_state(work_dir)
    assert [r['num_labeled'] for r in state['history']] == [40, 60]
    keys = [item['key'] for item in state['labeled']]
    assert len(keys) == 60 and len(set(keys)) == 60
    assert 'accuracy/top1' in state['history'][1]['metrics']


@pytest.mark.parametrize('strategy', ['LearningLossStrategy', 'RandomStrategy',
                                      'CoreSetStrategy'])
def test_selection_does_not_depend_on_world_size(two_process_run, tmp_path,
                                                 strategy):
    # Score and select from a fixed checkpoint (no training): 1 vs 2 processes.
    # Another run's checkpoint: trusted by hand.
    checkpoint = osp.join(two_process_run, 'cycle_1.pth')
    options = ['--trust-checkpoint', checkpoint, '--cfg-options', *SHORT,
               'train_cfg.max_epochs=0', f'train_cfg.strategy.type={strategy}',
               f'load_from={checkpoint}']
    one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
    al_train(DEMO, one, *options)
    dist_al_train(DEMO, two, *options)
    first, second = read_state(one), read_state(two)
    queried = [[q['key'] for q in s['history'][0]['queried']]
               for s in (first, second)]
    assert len(queried[0]) == 20
    assert queried[0] == queried[1]
    assert first['labeled'] == second['labeled']


def test_two_process_human_rounds(tmp_path):
    """HumanOracle on 2 processes: rank 0 exports, both exit 0; the import is a
    separate process; the query is the one a single process makes. Core-set:
    its centers (labeled.json) are scored on both ranks too."""
    folder = write_folder(str(tmp_path / 'my_images'))
    config = small_config(str(tmp_path / 'small.py'), folder)
    work_dir = str(tmp_path / 'two')
    # Round 2 queries again; its 6 labels are 3 per rank: one batch, as
    # BatchNorm refuses a training batch of 1.
    three = ['--cfg-options', 'train_cfg.cycles=3', 'train_dataloader.batch_size=3',
             'train_cfg.strategy.type=CoreSetStrategy']
    result = dist_al_train(config, work_dir, *three)
    # Only rank 0 holds the awaited query and prints what to do next.
    assert result.stdout.count('tools/al_import.py') == 1
    queries = osp.join(work_dir, 'queries')
    assert sorted(os.listdir(queries)) == ['cycle_0', 'work_dir_id']
    assert sorted(os.listdir(osp.join(queries, 'cycle_0'))) == [
        'coco_predictions.json', 'contact_sheet.png', 'labelstudio_config.xml',
        'labelstudio_tasks.json', 'query.csv']
    rows = query_rows(work_dir, 0)
    state = read_state(work_dir)
    assert [r['num_labeled'] for r in state['history']] == [4]
    queried = state['awaiting']['queried']
    assert [q['key'] for q in queried] == [row['key'] for row in rows]

    # One process, the same model (the 2-process cycle 0), no training.
    one = str(tmp_path / 'one')
    checkpoint = osp.join(work_dir, 'cycle_0.pth')
    al_train(config, one, '--trust-checkpoint', checkpoint, *three,
             'train_cfg.max_epochs=0', f'load_from={checkpoint}')
    single = read_state(one)['awaiting']['queried']
    assert [q['key'] for q in single] == [q['key'] for q in queried]
    assert [q['score'] for q in single] == pytest.approx(
        [q['score'] for q in queried], rel=1e-4)

    answer_query(work_dir, 0, str(tmp_path / 'labels.json'))
    result = dist_al_train(config, work_dir, *three, '--resume')
    assert result.stdout.count('tools/al_import.py') == 1
    assert 'Query after cycle 2: labeled features: 6 samples' in result.stdout
    state = read_state(work_dir)
    assert [r['num_labeled'] for r in state['history']] == [4, 6]
    assert state['history'][0]['queried'] == queried
    assert len(state['awaiting']['queried']) == 2
    assert sorted(os.listdir(osp.join(queries, 'cycle_0'))) == [
        'coco_predictions.json', 'contact_sheet.png',
        'labelstudio_config.xml', 'labelstudio_tasks.json', 'query.csv']
    assert len(query_rows(work_dir, 1)) == 2
