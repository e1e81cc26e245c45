"""Train the self-supervised model of an active learning config ahead of its run:
``python tools/al_pretrain.py CONFIG [--work-dir DIR]``.

The model is ``train_cfg.initial_features`` (a :class:`SelfSupervisedFeatures`;
SimCLR on the pool by default), cached in ``<work_dir>/self_supervised/``, where
``tools/al_train.py`` with the same config and work dir finds it: its initial
query (TypiClust, ProbCover) and ``init_backbone`` then skip the training. A
distributed run needs it trained ahead this way.
"""
import argparse
import os.path as osp
import sys
import time

from mmengine.config import Config, DictAction

import mmal  # noqa: F401  (registers the loop, strategies, feature sources)
from mmal.engine import ActiveLearningRunner
from mmal.engine.pool_scoring import unwrap
from mmal.features import SelfSupervisedFeatures
from mmal.utils import InputError


def parse_args():
    parser = argparse.ArgumentParser(
        description="Train an active learning config's self-supervised model")
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='the work dir of the run to come')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. '
                        'train_cfg.initial_features.epochs=10')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        if not osp.isfile(args.config):
            raise InputError(f'Config file {args.config} does not exist')
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
            './work_dirs', osp.splitext(osp.basename(args.config))[0])
        if cfg.get('train_cfg', {}).get('type') != 'ActiveLearningLoop':
            raise InputError(f'{args.config} is not an active learning config')
        runner = ActiveLearningRunner.from_cfg(cfg)
        # The target's initial weights (pretrained ones too), as the run has them.
        unwrap(runner.model).init_weights()
        loop = runner.build_train_loop(cfg.train_cfg)
        source = loop.query.initial_features
        if not isinstance(source, SelfSupervisedFeatures):
            raise InputError(
                f'train_cfg.initial_features is a {type(source).__name__}, which '
                'trains nothing: set train_cfg.initial_features='
                "dict(type='SelfSupervisedFeatures')")
        start = time.time()
        source.model(loop.query)
    except InputError as error:
        print(f'error: {error}', file=sys.stderr)
        sys.exit(1)
    checkpoint, record = source.paths(cfg.work_dir)
    print(f'{checkpoint} ready ({time.time() - start:.0f} s); its SHA-256 is in '
          f'{record}')


if __name__ == '__main__':
    main()
