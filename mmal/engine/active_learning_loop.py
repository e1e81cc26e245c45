import copy
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.dist import all_reduce_params, get_dist_info, is_main_process
from mmengine.registry import DATASETS, LOOPS
from mmengine.runner import BaseLoop, set_random_seed

from mmal.datasets import LabeledSubsetSampler, PoolLayout
from mmal.registry import STRATEGIES
from mmal.utils import plot_al_curves
from .al_state import ActiveLearningState
from .pool_scoring import PoolScorer, leaf_pipeline, unwrap, with_pipeline

# Independent random streams per cycle, so a resumed run draws what an
# uninterrupted one would.
_INITIAL_DRAW, _SUBSET_DRAW, _STRATEGY_DRAW = 0, 1, 2


@LOOPS.register_module()
class ActiveLearningLoop(BaseLoop):
    """The active learning cycle as an mmengine train loop.

    Each cycle trains on the labeled samples only, for ``max_epochs`` epochs with
    fresh optimizer state and freshly built parameter schedulers; evaluates with the
    config's val loop; then, except after the last cycle, scores a random subset of
    ``subset_size`` unlabeled samples through the test pipeline and labels the
    ``query_size`` that the strategy picks. After every cycle ``al_state.json``,
    ``cycle_<k>.pth`` and ``al_curve.png`` are written to the work dir.

    The pool is the config's own ``train_dataloader.dataset`` (single, Concat or
    Repeat datasets); cycle 0 labels ``initial_size`` random samples. All draws come
    from the runner's seed.

    Args:
        runner: The runner.
        dataloader (dict): The train dataloader config; its sampler is replaced by
            :class:`LabeledSubsetSampler`.
        cycles (int): Training cycles. Defaults to 10.
        initial_size (int): Random samples labeled before cycle 0.
        query_size (int): Samples labeled after each cycle but the last (K).
        subset_size (int): Unlabeled samples scored per query (M).
        max_epochs (int): Epochs per cycle.
        val_interval (int, optional): Also validate every this many epochs within a
            cycle. Each cycle ends with a validation regardless.
        reset_model (bool): Restore the initial weights before each cycle instead of
            warm starting from the previous cycle. Defaults to False.
        strategy (dict): Query strategy config. Defaults to learning loss.
        score_pipeline (list, optional): Pipeline for scoring; defaults to
            ``test_dataloader.dataset.pipeline``.
        score_batch_size (int, optional): Defaults to the test dataloader's.
        key_field (str, optional): Data-info field with stable sample keys.
        curve_metric (str, optional): Metric of ``al_curve.png``; defaults to the
            evaluator's first.
        resume (bool): Continue from ``<work_dir>/al_state.json``.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[dict],
                 cycles: int = 10,
                 initial_size: int = 1000,
                 query_size: int = 1000,
                 subset_size: int = 10000,
                 max_epochs: int = 200,
                 val_interval: Optional[int] = None,
                 reset_model: bool = False,
                 strategy: dict = dict(type='LearningLossStrategy'),
                 score_pipeline: Optional[list] = None,
                 score_batch_size: Optional[int] = None,
                 key_field: Optional[str] = None,
                 curve_metric: Optional[str] = None,
                 resume: bool = False):
        if not isinstance(dataloader, dict):
            raise TypeError('ActiveLearningLoop needs train_dataloader as a config '
                            'dict, to restrict its sampler to labeled samples')
        self._dataloader_cfg = copy.deepcopy(dataloader)
        dataloader = copy.deepcopy(dataloader)
        sampler_cfg = dataloader.get('sampler') or {}
        dataloader['sampler'] = dict(
            type='LabeledSubsetSampler', shuffle=sampler_cfg.get('shuffle', True))
        super().__init__(runner, dataloader)
        self.cycles = cycles
        self.initial_size = initial_size
        self.query_size = query_size
        self.subset_size = subset_size
        self.epochs_per_cycle = max_epochs
        self.val_interval = val_interval
        self.reset_model = reset_model
        self.strategy = STRATEGIES.build(strategy)
        self.strategy_name = strategy['type']
        self.score_pipeline = score_pipeline
        self.score_batch_size = score_batch_size
        self.curve_metric = curve_metric
        self.resume = resume
        self.seed = runner.seed
        self.sampler = self._find_sampler()
        self.layout = PoolLayout(self.dataloader.dataset, key_field)
        self._check_sizes()
        self.strategy.check_model(unwrap(runner.model))
        if runner._val_loop is None:
            raise ValueError('ActiveLearningLoop evaluates every cycle: set '
                             'val_dataloader, val_evaluator and val_cfg')
        # The runner builds the schedulers after this loop; the loop keeps their
        # configs and rebuilds them every cycle.
        self._scheduler_cfg = self._per_cycle_schedulers(runner.param_schedulers)
        runner.param_schedulers = copy.deepcopy(self._scheduler_cfg)
        self.state = ActiveLearningState(
            osp.join(runner.work_dir, 'al_state.json'), self.strategy_name,
            self.seed, self.layout)
        self._scorer: Optional[PoolScorer] = None
        self._initial_weights = None
        self._cycle = 0
        self._epoch = 0
        self._iter = 0
        self._cycle_start_epoch = 0
        self.stop_training = False

    # Counters the runner, hooks and loggers read.
    @property
    def cycle(self) -> int:
        return self._cycle

    @property
    def epoch(self) -> int:
        """Epochs trained so far over all cycles (checkpoint names stay unique)."""
        return self._epoch

    @property
    def epoch_in_cycle(self) -> int:
        return self._epoch - self._cycle_start_epoch

    @property
    def iter(self) -> int:
        return self._iter

    @property
    def max_epochs(self) -> int:
        return self.cycles * self.epochs_per_cycle

    @property
    def max_iters(self) -> int:
        _, world_size = get_dist_info()
        batch_size = self.dataloader.batch_size or getattr(
            self.dataloader.batch_sampler, 'batch_size', 1)
        return sum(
            self.epochs_per_cycle *
            math.ceil(math.ceil(self._num_labeled(c) / world_size) / batch_size)
            for c in range(self.cycles))

    def _per_cycle_schedulers(self, cfg):
        """Epoch-based schedulers without ``end`` end with the cycle (mmengine would
        end them with the whole run); none at all when cycles train no epochs."""
        if cfg is None or self.epochs_per_cycle == 0:
            return None
        cfg = copy.deepcopy(cfg)
        for scheduler in cfg if isinstance(cfg, (list, tuple)) else [cfg]:
            if (isinstance(scheduler, dict) and scheduler.get('by_epoch', True)
                    and 'end' not in scheduler):
                scheduler['end'] = self.epochs_per_cycle
        return cfg

    def _num_labeled(self, cycle: int) -> int:
        return self.initial_size + cycle * self.query_size

    def _find_sampler(self) -> LabeledSubsetSampler:
        for sampler in (self.dataloader.sampler,
                        getattr(self.dataloader.batch_sampler, 'sampler', None)):
            if isinstance(sampler, LabeledSubsetSampler):
                return sampler
        raise RuntimeError('The train dataloader lost its LabeledSubsetSampler')

    def _check_sizes(self) -> None:
        pool = len(self.layout)
        problems = []
        if self.initial_size > pool:
            problems.append(f'initial_size={self.initial_size} is larger than the '
                            f'pool ({pool} samples)')
        if self.query_size > pool:
            problems.append(f'query_size={self.query_size} is larger than the pool '
                            f'({pool} samples)')
        if self.subset_size < self.query_size:
            problems.append(f'subset_size={self.subset_size} is smaller than '
                            f'query_size={self.query_size}: the query must choose '
                            'from at least as many samples as it labels')
        final = self._num_labeled(self.cycles - 1)
        if not problems and final > pool:
            problems.append(
                f'{self.cycles} cycles label initial_size + (cycles - 1) x '
                f'query_size = {final} samples, more than the pool ({pool}); lower '
                'cycles, initial_size or query_size')
        if self.initial_size < 1 or self.query_size < 1 or self.cycles < 1:
            problems.append('cycles, initial_size and query_size must be positive')
        if problems:
            raise ValueError('Bad active learning settings (train_cfg): ' +
                             '; '.join(problems))

    def _rng(self, cycle: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, cycle, stream])

    def run(self):
        self.runner.call_hook('before_train')
        start_cycle = self._start()
        for cycle in range(start_cycle, self.cycles):
            self._cycle = cycle
            self._prepare_cycle(cycle)
            for _ in range(self.epochs_per_cycle):
                if self.stop_training:
                    break
                self.run_epoch()
                if (self.val_interval and self.epoch_in_cycle % self.val_interval == 0
                        and self.epoch_in_cycle < self.epochs_per_cycle):
                    self.runner.val_loop.run()
            self._epoch = self._cycle_start_epoch + self.epochs_per_cycle
            self._sync_buffers()
            metrics = self.runner.val_loop.run()
            queried = self._query(cycle) if cycle + 1 < self.cycles else []
            self._finish_cycle(cycle, metrics, queried)
        self.runner.call_hook('after_train')
        return self.runner.model

    def _sync_buffers(self) -> None:
        # DDP does not broadcast buffers here (mmengine's default): average the
        # BatchNorm statistics so that every rank evaluates and scores the same
        # model, and the selection does not depend on the world size.
        if get_dist_info()[1] > 1:
            all_reduce_params(self.runner.model.buffers(), op='mean')

    def _start(self) -> int:
        """Label the initial set, or restore a previous run's; returns the cycle to
        run next."""
        logger = self.runner.logger
        if self.state.exists() and not self.resume:
            raise FileExistsError(
                f'{self.state.path} holds a previous active learning run; pass '
                '--resume to continue it, or choose another --work-dir')
        if self.reset_model:
            self._initial_weights = copy.deepcopy(
                unwrap(self.runner.model).state_dict())
        if self.resume and self.state.exists():
            self.state.load()
            done = len(self.state.history)
            logger.info(f'Resuming active learning from {self.state.path}: '
                        f'{done} cycles done, {len(self.state.labeled)} labeled')
            if done and not self.reset_model:
                last = self.state.history[-1]
                self.runner.load_checkpoint(
                    osp.join(self.runner.work_dir, last['checkpoint']))
            if done:
                self._epoch = self.state.history[-1]['epoch']
                self._iter = self.state.history[-1]['iter']
            return done
        if self.resume:
            logger.warning(f'--resume: no {self.state.path} yet, starting afresh')
        initial = self._rng(0, _INITIAL_DRAW).choice(
            len(self.layout), size=self.initial_size, replace=False)
        self.state.label(sorted(initial.tolist()))
        return 0

    def _prepare_cycle(self, cycle: int) -> None:
        runner = self.runner
        randomness = runner._randomness_cfg
        # Reseeding per cycle makes a resumed cycle train as the uninterrupted one.
        set_random_seed(self.seed + cycle,
                        deterministic=randomness.get('deterministic', False),
                        diff_rank_seed=randomness.get('diff_rank_seed', False))
        self._cycle_start_epoch = self._epoch
        self.sampler.seed = self.seed
        self.sampler.set_indices(self.layout.dataset_indices(sorted(self.state.labeled)))
        model = unwrap(runner.model)
        if self.reset_model and self._initial_weights is not None:
            model.load_state_dict(self._initial_weights)
        optim_wrapper = runner.optim_wrapper
        optimizers = (optim_wrapper.optim_wrappers.values() if hasattr(
            optim_wrapper, 'optim_wrappers') else [optim_wrapper])
        for wrapper in optimizers:
            optimizer = wrapper.optimizer
            optimizer.state.clear()
            for group in optimizer.param_groups:
                for key in [k for k in group if k.startswith('initial_')]:
                    group[key[len('initial_'):]] = group[key]
        if self._scheduler_cfg is not None:
            runner.param_schedulers = runner.build_param_scheduler(
                copy.deepcopy(self._scheduler_cfg))
        runner.logger.info(
            f'Active learning cycle {cycle + 1}/{self.cycles}: training on '
            f'{len(self.state.labeled)} labeled samples for '
            f'{self.epochs_per_cycle} epochs ({self.strategy_name})')

    def run_epoch(self) -> None:
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        self.sampler.set_epoch(self._epoch)
        for idx, data_batch in enumerate(self.dataloader):
            self.runner.call_hook('before_train_iter', batch_idx=idx,
                                  data_batch=data_batch)
            outputs = self.runner.model.train_step(
                data_batch, optim_wrapper=self.runner.optim_wrapper)
            self.runner.call_hook('after_train_iter', batch_idx=idx,
                                  data_batch=data_batch, outputs=outputs)
            self._iter += 1
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def _query(self, cycle: int) -> List[dict]:
        """Score a random unlabeled subset and return the chosen samples."""
        labeled = set(self.state.labeled)
        unlabeled = [i for i in range(len(self.layout)) if i not in labeled]
        size = min(self.subset_size, len(unlabeled))
        subset = sorted(self._rng(cycle, _SUBSET_DRAW).choice(
            unlabeled, size=size, replace=False).tolist())
        output = self.strategy.output
        outputs = labeled_outputs = None
        if output is not None:
            scorer = self._get_scorer()
            outputs = scorer.score(subset, output, f'Scoring {output} (cycle '
                                   f'{cycle + 1})')
            if self.strategy.needs_labeled_outputs:
                labeled_outputs = scorer.score(sorted(labeled), output,
                                               f'Scoring labeled {output}')
        keys = [self.layout.keys[i] for i in subset]
        chosen, scores = self.strategy.select(
            keys, outputs, min(self.query_size, size), self._rng(cycle, _STRATEGY_DRAW),
            labeled_outputs=labeled_outputs)
        return [dict(key=key, score=score) for key, score in zip(chosen, scores)]

    def _get_scorer(self) -> PoolScorer:
        if self._scorer is None:
            cfg = self.runner.cfg
            test_loader_cfg = cfg.get('test_dataloader') or cfg.get('val_dataloader')
            pipeline = self.score_pipeline or leaf_pipeline(test_loader_cfg['dataset'])
            dataset = DATASETS.build(
                with_pipeline(self._dataloader_cfg['dataset'], pipeline))
            loader_cfg = dict(test_loader_cfg)
            if self.score_batch_size:
                loader_cfg['batch_size'] = self.score_batch_size
            score_layout = PoolLayout(dataset, self.layout.key_field)
            if score_layout.keys != self.layout.keys:
                raise RuntimeError('The scoring dataset (training data with the test '
                                   'pipeline) lists other samples than the pool')
            self._scorer = PoolScorer(self.runner, dataset, score_layout, loader_cfg)
        return self._scorer

    def _finish_cycle(self, cycle: int, metrics: Dict, queried: List[dict]) -> None:
        runner = self.runner
        metrics = {name: _to_builtin(value) for name, value in (metrics or {}).items()}
        checkpoint = f'cycle_{cycle}.pth'
        runner.save_checkpoint(runner.work_dir, checkpoint, save_optimizer=False,
                               save_param_scheduler=False)
        num_labeled = len(self.state.labeled)
        self.state.label([self.layout.position[item['key']] for item in queried])
        self.state.history.append(
            dict(cycle=cycle, num_labeled=num_labeled, metrics=metrics,
                 queried=queried, checkpoint=checkpoint, epoch=self._epoch,
                 iter=self._iter))
        runner.visualizer.add_scalars(
            dict({'al/num_labeled': num_labeled},
                 **{f'al/{k}': v for k, v in metrics.items()
                    if isinstance(v, (int, float))}),
            step=cycle)
        runner.logger.info(f'Cycle {cycle + 1}/{self.cycles} done: {num_labeled} '
                           f'labeled, metrics {metrics}; queried {len(queried)}')
        if is_main_process():
            self.state.save()
            plot_al_curves([(self.strategy_name, self.state.history)],
                           osp.join(runner.work_dir, 'al_curve.png'),
                           metric=self.curve_metric)


def _to_builtin(value):
    """Metric values as JSON types (evaluators return numpy scalars and arrays)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
