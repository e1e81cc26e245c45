"""Cost of learning loss per training step, as a ratio measured side by side.

Runs the plain mmpretrain ResNet-18-CIFAR and its LearningLossModel wrapper on the
same batches, alternating, and reports the ratios (wrapped / plain) of the median
step time and of the activation memory saved for backward. Then the pool
bookkeeping of one query on a 1,000,000-sample pool (benchmarks/pool_bookkeeping.py)
and the scoring cost of each strategy output (benchmarks/scoring_cost.py). Usage: ``python benchmarks/run.py [--steps 20 --batch 32]``.
"""
import argparse
import copy
import time

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import MODELS, init_default_scope

import mmal  # noqa: F401
import pool_bookkeeping
import scoring_cost
from mmal.testing.toolbox_models import cifar_batch, resnet18_cifar_cfg


def build(wrapped: bool):
    torch.manual_seed(0)
    cfg = resnet18_cifar_cfg()
    if wrapped:
        cfg = dict(type='LearningLossModel', target=cfg,
                   taps=['backbone.layer1', 'backbone.layer2', 'backbone.layer3',
                         'backbone.layer4'],
                   head=dict(in_channels=[64, 128, 256, 512]))
    model = MODELS.build(cfg)
    model.init_weights()
    return model, OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))


def step(model, optim, batch):
    start = time.perf_counter()
    model.train_step(copy.deepcopy(batch), optim)
    return time.perf_counter() - start


def saved_activation_bytes(model, optim, batch) -> int:
    """Bytes of the tensors autograd keeps for backward in one step."""
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step(model, optim, batch)
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--batch', type=int, default=32)
    args = parser.parse_args()
    init_default_scope('mmpretrain')
    runs = {name: build(name == 'lloss') for name in ('plain', 'lloss')}
    batch = cifar_batch(args.batch)
    for model, optim in runs.values():  # warm-up
        step(model, optim, batch)
    times = {name: [] for name in runs}
    for _ in range(args.steps):
        for name, (model, optim) in runs.items():
            times[name].append(step(model, optim, batch))
    saved = {name: saved_activation_bytes(*runs[name], batch) for name in runs}
    median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    print(f'ResNet-18-CIFAR train step, batch {args.batch}, {args.steps} '
          'alternating steps each')
    for name in runs:
        print(f'  {name:6s} median {median[name] * 1000:8.1f} ms')
    print(f'  time ratio lloss/plain: {median["lloss"] / median["plain"]:.3f}')
    print(f'  activations saved for backward: plain {saved["plain"] / 2**20:.1f} '
          f'MiB, lloss {saved["lloss"] / 2**20:.1f} MiB, ratio '
          f'{saved["lloss"] / saved["plain"]:.3f}')


if __name__ == '__main__':
    main()
    pool_bookkeeping.main([])
    scoring_cost.main([])
