"""The pool state: labeling, saving, and reading it on rank 0 only."""
import os.path as osp
import socket

import numpy as np
import pytest
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.registry import init_default_scope

from mmal.datasets import ActivePool, PoolLayout
from mmal.datasets.digits import DigitsDataset


def digits_pool(path, size=30):
    init_default_scope('mmpretrain')
    layout = PoolLayout(DigitsDataset(split='train', indices=size))
    return ActivePool(layout, path, 'RandomStrategy', seed=0)


def test_labeling_saving_and_loading(tmp_path):
    path = str(tmp_path / 'al_state.json')
    pool = digits_pool(path)
    pool.initial_size = 3
    pool.label([5, 1, 7])
    with pytest.raises(ValueError, match="'1' is already labeled"):
        pool.label([2, 1])
    assert pool.labeled == [5, 1, 7]  # a refused call labels nothing
    assert 5 not in pool.unlabeled_indices() and len(pool.unlabeled_indices()) == 27
    pool.history.append(dict(cycle=0, num_labeled=3, metrics={'acc': np.float32(.5)},
                             queried=None, checkpoint='cycle_0.pth', epoch=1, iter=1))
    pool.record_query([dict(key='9', score=np.float64(2.0))], query_size=1,
                      subset_size=4)
    pool.save()
    again = digits_pool(path)
    again.load()
    assert again.labeled == [5, 1, 7, 9] and again.initial_size == 3
    assert again.history[0]['queried'] == [dict(key='9', score=2.0)]
    assert again.history[0]['metrics'] == {'acc': 0.5}
    assert not again.needs_query()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def load_on_rank(rank, port, paths, results):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=2)
    try:
        pool = digits_pool(paths[rank])
        exists = pool.exists()
        pool.load()
        results[rank] = (exists, pool.labeled)
    finally:
        dist.destroy_process_group()


def test_only_rank_0_reads_the_state(tmp_path):
    # Nodes without a shared work dir: rank 1's path holds no file.
    saved = digits_pool(str(tmp_path / 'node0' / 'al_state.json'))
    saved.initial_size = 2
    saved.label([4, 2])
    saved.save()
    paths = [saved.path, str(tmp_path / 'node1' / 'al_state.json')]
    assert not osp.exists(paths[1])
    results = mp.Manager().dict()
    mp.spawn(load_on_rank, args=(free_port(), paths, results), nprocs=2)
    assert results[0] == results[1] == (True, [4, 2])
