"""Active learning bookkeeping on a 1,000,000-sample pool: pool layout, one query's
selection (100k-candidate subset, 10k chosen, 10% already labeled), and writing
and reading ``al_state.json``. Model scoring is not included (scores are given).
Usage: ``python benchmarks/pool_bookkeeping.py [--size 1000000]``."""
import argparse
import os.path as osp
import tempfile
import time
import tracemalloc

import numpy as np
from mmengine.dataset import BaseDataset

from mmal.datasets import ActivePool, PoolLayout
from mmal.engine.pool_query import SUBSET_DRAW, cycle_rng
from mmal.strategies import Candidates, LearningLossStrategy


class ManySamples(BaseDataset):
    """A real mmengine BaseDataset (serialized data list) of ``size`` samples."""

    def __init__(self, size: int):
        self.size = size
        super().__init__(ann_file='', serialize_data=True)

    def load_data_list(self):
        return [dict(img_path=f'img_{i:07d}.jpg', gt_label=i % 10)
                for i in range(self.size)]


def bookkeeping(dataset, work_dir: str) -> dict:
    """Seconds per step of one query's bookkeeping."""
    size = len(dataset)
    times = {}
    start = time.perf_counter()
    layout = PoolLayout(dataset)
    times['layout'] = time.perf_counter() - start

    pool = ActivePool(layout, osp.join(work_dir, 'al_state.json'), 'bench', 0)
    pool.initial_size = size // 10
    pool.label(np.random.default_rng(0).choice(size, size // 10, replace=False))
    pool.history.append(dict(cycle=0, num_labeled=pool.num_labeled, metrics={},
                             queried=None, checkpoint='cycle_0.pth', epoch=1,
                             iter=1))
    scores = np.random.default_rng(1).random(size // 10)
    start = time.perf_counter()
    unlabeled = pool.unlabeled_indices()
    subset = np.sort(cycle_rng(0, 0, SUBSET_DRAW).choice(
        unlabeled, size=size // 10, replace=False)).tolist()
    candidates = Candidates.from_arrays([layout.keys[i] for i in subset],
                                        predicted_loss=scores)
    keys, chosen_scores = LearningLossStrategy().select(
        candidates, size // 100, np.random.default_rng(2))
    pool.record_query([dict(key=k, score=s) for k, s in zip(keys, chosen_scores)],
                      size // 100, size // 10)
    times['selection'] = time.perf_counter() - start

    start = time.perf_counter()
    pool.save()
    times['state write'] = time.perf_counter() - start
    start = time.perf_counter()
    ActivePool(layout, pool.path, 'bench', 0).load()
    times['state load'] = time.perf_counter() - start
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--size', type=int, default=1_000_000)
    args = parser.parse_args(argv)
    dataset = ManySamples(args.size)
    with tempfile.TemporaryDirectory() as work_dir:
        times = bookkeeping(dataset, work_dir)
        # Memory in a second pass: tracing slows allocation-heavy code.
        tracemalloc.start()
        bookkeeping(dataset, work_dir)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    total = sum(times.values())
    print(f'Pool bookkeeping, {args.size:,} samples (10% labeled, '
          f'{args.size // 10:,} candidates, {args.size // 100:,} chosen)')
    for name, seconds in times.items():
        print(f'  {name:12s} {seconds:6.3f} s')
    print(f'  total        {total:6.3f} s (goal < 1 s), peak Python memory '
          f'{peak / 2**20:.0f} MiB ({peak / args.size:.0f} bytes per sample)')


if __name__ == '__main__':
    main()
