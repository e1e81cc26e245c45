"""Run an active learning experiment: ``python tools/al_train.py CONFIG``.

Shaped like the toolboxes' ``tools/train.py``; the config's ``train_cfg`` is an
``ActiveLearningLoop`` that runs every cycle, so one call does the whole experiment.
"""
import argparse
import json
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction

import mmal  # noqa: F401  (registers the loop, models, hooks, strategies)
from mmal.engine import ActiveLearningRunner, trust_checkpoint
from mmal.utils import InputError, check_data_roots
from mmal.utils.preflight import (check_checkpoint_downloads,
                                  check_mmcv_ops_device)


def parse_args():
    parser = argparse.ArgumentParser(description='Active learning with mmal')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs, checkpoints, '
                        'al_state.json and al_curve.png go')
    parser.add_argument('--resume', action='store_true',
                        help='continue from <work-dir>/al_state.json after the '
                        'last finished cycle')
    parser.add_argument('--allow-partial', action='store_true',
                        help='with HumanOracle: train although some queried images '
                        'have no labels yet; they go back to the pool')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision training (GPU)')
    parser.add_argument(
        '--trust-checkpoint', action='append', default=[], metavar='PATH',
        help='load this checkpoint (a path or URL; repeat for more) with '
        'weights_only=False, as the run does with its own cycle_<k>.pth: only '
        'for files you trust, as unpickling a checkpoint can run any code. '
        'Other files load with weights_only=True')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. train_cfg.cycles=3 '
        'train_cfg.query_size=100')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args) -> Config:
    if not osp.isfile(args.config):
        raise InputError(f'Config file {args.config} does not exist')
    try:
        cfg = Config.fromfile(args.config)
    except SyntaxError as error:
        # mmengine parses the file without naming it.
        where = (error.filename if error.filename not in (None, '<unknown>')
                 else args.config)
        raise InputError(f'{where}, line {error.lineno}: {error.msg}; fix the '
                         'config file') from None
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if osp.exists(cfg.work_dir) and not osp.isdir(cfg.work_dir):
        raise InputError(f'--work-dir {cfg.work_dir} is a file, not a folder: '
                         'choose another --work-dir, or move the file away')
    if cfg.get('train_cfg', {}).get('type') != 'ActiveLearningLoop':
        raise InputError(f'{args.config} is not an active learning config: set '
                         "train_cfg = dict(_delete_=True, type='ActiveLearningLoop', "
                         '...)')
    check_data_roots(cfg)
    check_mmcv_ops_device(cfg)
    check_checkpoint_downloads(cfg)
    if args.launcher != 'none' and not torch.cuda.is_available():
        use_cpu_distributed(cfg, args.launcher)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume:
        # The loop resumes whole cycles from al_state.json; the runner's own
        # epoch-level resume stays off.
        cfg.train_cfg.resume = True
        adopt_state_seed(cfg)
    if args.allow_partial:
        cfg.train_cfg.allow_partial = True
    return cfg


def use_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Distributed runs without GPUs: gloo, and DDP without device ids.

    mmengine's launchers call ``torch.cuda.set_device`` and its DDP wrapper passes
    the local rank as a CUDA device id; neither works on CPU. The process group is
    started here instead (mmengine then keeps it).
    """
    if launcher != 'pytorch':
        raise RuntimeError(f'--launcher {launcher} needs GPUs; without GPUs run '
                           'distributed through torchrun (tools/dist_al_train.sh)')
    cfg.merge_from_dict({'env_cfg.dist_cfg.backend': 'gloo'})
    cfg.model_wrapper_cfg = dict(dict(type='MMDistributedDataParallel',
                                      device_ids=None),
                                 **(cfg.get('model_wrapper_cfg') or {}))
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend='gloo')


def adopt_state_seed(cfg: Config) -> None:
    """On resume, reuse the interrupted run's seed unless one is configured."""
    state_path = osp.join(cfg.work_dir, 'al_state.json')
    randomness = cfg.get('randomness') or {}
    if randomness.get('seed') is not None or not osp.isfile(state_path):
        return
    try:
        with open(state_path) as f:
            seed = json.load(f)['seed']
    except (ValueError, KeyError, TypeError):
        return  # the loop reports the corrupted file with the fix
    cfg.randomness = dict(randomness, seed=seed)


def main():
    args = parse_args()
    for checkpoint in args.trust_checkpoint:
        trust_checkpoint(checkpoint)
    try:
        runner = ActiveLearningRunner.from_cfg(build_config(args))
        runner.train()
    except InputError as error:
        print(f'error: {error}', file=sys.stderr)
        sys.exit(1)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    if torch.distributed.is_initialized():
        # Every rank leaves together: a rank that exits while another is still
        # writing can abort inside gloo's teardown.
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    awaited = getattr(runner.train_loop, 'awaited', None)
    if awaited is not None and rank == 0:
        # Labels are awaited from a person: a normal stop (exit 0).
        print(awaited.message(args.config))


if __name__ == '__main__':
    main()
