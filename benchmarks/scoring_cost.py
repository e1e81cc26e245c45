"""Cost of scoring one batch of candidates per strategy output, as a ratio to one
plain forward pass, measured side by side.

mmpretrain's ResNet-18-CIFAR in eval mode on CIFAR-sized batches; each output
function of the pool scorer (``mmal.engine.pool_scoring``) runs on the same batch,
alternating, and the ratio of its median time to the plain pass's is reported:
entropy, margin and least confidence (one pass), BADGE's gradient embedding (one
pass, closed form), BALD with T MC dropout passes on the head's input (the model
has no dropout: the backbone runs once), and BALD on the same model with a
dropout head (``StackedLinearClsHead``, dropout inside the model: T full passes).
Usage: ``python benchmarks/scoring_cost.py [--repeats 5 --batch 32 --passes 20
--threads 1]`` (one thread by default: ratios steadier on a shared machine).
"""
import argparse
import copy
import time

import torch
from mmengine.registry import MODELS, init_default_scope

import mmal  # noqa: F401
from mmal.engine.pool_scoring import (MutualInformation, entropy,
                                      gradient_embedding, least_confidence, margin)
from mmal.testing.toolbox_models import cifar_batch, resnet18_cifar_cfg


def build(dropout_head: bool):
    torch.manual_seed(0)
    cfg = resnet18_cifar_cfg()
    if dropout_head:
        cfg['head'] = dict(type='StackedLinearClsHead', num_classes=10,
                           in_channels=512, mid_channels=[512], dropout_rate=0.5)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


def timed(fn, model, data) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        fn(model, data['inputs'], data['data_samples'])
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--passes', type=int, default=20)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    init_default_scope('mmpretrain')
    plain_model, dropout_model = build(False), build(True)
    batch = cifar_batch(args.batch)
    for index, sample in enumerate(batch['data_samples']):
        sample.set_metainfo(dict(sample_idx=index))
    data = plain_model.data_preprocessor(copy.deepcopy(batch), False)

    def plain(model, inputs, data_samples):
        return model(inputs, mode='tensor')

    bald = MutualInformation(args.passes, seed=0)
    runs = {
        'plain pass': (plain, plain_model),
        'entropy': (entropy, plain_model),
        'margin': (margin, plain_model),
        'least confidence': (least_confidence, plain_model),
        'BADGE embedding': (gradient_embedding, plain_model),
        f'BALD, head-input dropout, T={args.passes}': (bald, plain_model),
        'plain pass, dropout head': (plain, dropout_model),
        f'BALD, model dropout, T={args.passes}': (bald, dropout_model),
    }
    for fn, model in runs.values():  # warm-up
        timed(fn, model, data)
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, (fn, model) in runs.items():
            times[name].append(timed(fn, model, data))
    median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    print(f'Scoring one batch of {args.batch} (ResNet-18-CIFAR, eval), '
          f'{args.repeats} alternating repeats, threads {torch.get_num_threads()}')
    for name in runs:
        reference = ('plain pass, dropout head' if 'dropout head' in name
                     or 'model dropout' in name else 'plain pass')
        print(f'  {name:36s} median {median[name] * 1000:8.1f} ms  '
              f'ratio {median[name] / median[reference]:6.2f}')


if __name__ == '__main__':
    main()
