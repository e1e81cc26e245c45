import contextlib
import copy
import math
import numbers
import os.path as osp
from typing import Dict, Optional

from mmengine.dist import all_reduce_params, get_dist_info, is_main_process
from mmengine.registry import LOOPS
from mmengine.runner import EpochBasedTrainLoop, set_random_seed

from mmal.datasets import ActivePool, LabeledSubsetSampler
from mmal.oracles import LabelsAwaited
from mmal.features import default_feature_source
from mmal.registry import FEATURE_SOURCES, ORACLES, STRATEGIES
from mmal.utils import InputError, plot_al_curves
from .budgets import check_budget_types, check_budgets
from .checkpoint_loader import trusting, weight_mismatch
from .cycle_schedule import CycleSchedule
from .pool_query import PoolQuery
from .pool_scoring import unwrap


@LOOPS.register_module()
class ActiveLearningLoop(EpochBasedTrainLoop):
    """The active learning cycle as an mmengine train loop.

    Cycle k: (k > 0) the model of cycle k-1 scores a random subset of
    ``subset_size`` unlabeled samples through the test pipeline and the strategy
    labels ``query_size`` of them; then the model trains on the labeled samples
    for ``max_epochs`` epochs (mmengine's own epoch loop, with fresh optimizer
    state and freshly built parameter schedulers, see :class:`CycleSchedule`) and
    is evaluated with the config's val loop. After each step ``al_state.json`` is
    written (and ``cycle_<k>.pth``, ``al_curve.png`` after each cycle), so a run
    killed anywhere resumes where it stopped, and a finished run can be extended
    with more ``cycles``.

    Who labels is the ``oracle``'s business (:class:`mmal.oracles.BaseOracle`):
    with the default :class:`SimulatedOracle` the pool is the config's own
    ``train_dataloader.dataset`` (single, Concat or Repeat datasets), cycle 0
    trains on ``initial_size`` random samples, and every query is labeled at once.
    With :class:`HumanOracle` a person labels: the model trains on the work dir's
    copy of the user's annotation file, the pool is ``unlabeled_dataset``, and a
    query's labels are awaited (the run stops until they are imported, or waits
    for them). All draws come from the runner's seed and the cycle, never from
    the rank.

    Args:
        runner: The runner.
        dataloader (dict): The train dataloader config; its sampler is replaced by
            :class:`LabeledSubsetSampler`.
        cycles (int): Training cycles. Defaults to 10.
        initial_size (int): Samples labeled before cycle 0, chosen by
            ``initial_strategy`` (required in simulation; with a person, only to
            start cold from an empty labeled set).
        initial_strategy (dict): Chooses the initial set without any label
            (registry ``STRATEGIES``). Defaults to ``RandomStrategy`` (the
            seed's random draw); ``TypiClustStrategy`` and
            ``ProbCoverStrategy`` choose on features.
        initial_features (dict, optional): Where the initial strategy's
            features come from (registry ``FEATURE_SOURCES``). Defaults to
            ``TargetBackboneFeatures`` when the config gives the model
            pretrained weights, else ``SelfSupervisedFeatures`` (SimCLR
            trained on the pool; computed only if the strategy asks).
        query_size (int): Samples labeled before each cycle but the first (K).
            May change on resume; it applies to the queries still to come.
        subset_size (int): Unlabeled samples scored per query (M). Likewise.
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
        oracle (dict, optional): Who labels (registry ``ORACLES``):
            ``SimulatedOracle`` (default), ``HumanOracle`` or
            ``LabelStudioOracle``.
        unlabeled_dataset (dict, optional): The pool of a person's run, e.g. a
            ``CocoDataset`` on ``tools/images_to_coco.py``'s file.
        allow_partial (bool): When labels come from a person, train although some
            queried images have no labels yet; they go back to the pool.
        resume (bool): Continue from ``<work_dir>/al_state.json``.
    """

    def __init__(self,
                 runner,
                 dataloader: dict,
                 cycles: int = 10,
                 initial_size: Optional[int] = None,
                 initial_strategy: dict = dict(type='RandomStrategy'),
                 initial_features: Optional[dict] = None,
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
                 oracle: Optional[dict] = None,
                 unlabeled_dataset: Optional[dict] = None,
                 allow_partial: bool = False,
                 resume: bool = False):
        if not isinstance(dataloader, dict):
            raise TypeError('ActiveLearningLoop needs train_dataloader as a config '
                            'dict, to restrict its sampler to labeled samples')
        check_budget_types(
            dict(cycles=cycles, query_size=query_size, subset_size=subset_size,
                 max_epochs=max_epochs),
            dict(initial_size=initial_size, val_interval=val_interval))
        self.oracle = ORACLES.build(
            dict(oracle or dict(type='SimulatedOracle'), _scope_='mmal'))
        self.oracle.setup(runner, copy.deepcopy(dataloader['dataset']),
                          copy.deepcopy(unlabeled_dataset), initial_size)
        dataloader = dict(copy.deepcopy(dataloader),
                          dataset=self.oracle.labeled_dataset_cfg())
        sampler_cfg = dataloader.get('sampler') or {}
        dataloader['sampler'] = dict(
            type='LabeledSubsetSampler', shuffle=sampler_cfg.get('shuffle', True))
        self._dataloader_cfg = dataloader
        super().__init__(runner, dataloader, max_epochs=cycles * max_epochs,
                         val_interval=val_interval)
        self.cycles = cycles
        self.initial_size = initial_size
        self.query_size = query_size
        self.subset_size = subset_size
        self.epochs_per_cycle = max_epochs
        self.reset_model = reset_model
        self.strategy_name = strategy['type']
        self.curve_metric = curve_metric
        self.resume = resume
        self.allow_partial = allow_partial
        self.seed = runner.seed
        self.sampler = self._find_sampler()
        self.pool = ActivePool(
            self.oracle.pool_layout(self.dataloader.dataset, key_field),
            osp.join(runner.work_dir, 'al_state.json'), self.strategy_name,
            self.seed, fixed=self.oracle.fixed_pool)
        self._check_budgets(labeled=0, queries_done=0)
        self.query = PoolQuery(runner,
                               STRATEGIES.build(dict(strategy, _scope_='mmal')),
                               self.oracle.pool_dataset_cfg(), score_pipeline,
                               score_batch_size,
                               self.oracle.centers_dataset_cfg(),
                               STRATEGIES.build(dict(initial_strategy,
                                                     _scope_='mmal')),
                               FEATURE_SOURCES.build(dict(
                                   initial_features or
                                   default_feature_source(runner.cfg),
                                   _scope_='mmal')))
        # Set when the run stops for a person to label the query.
        self.awaited: Optional[LabelsAwaited] = None
        # A query delivered by this process, whose labels the oracle may wait for.
        self._delivered = False
        if runner.val_loop is None:
            raise InputError('ActiveLearningLoop evaluates every cycle: set '
                             'val_dataloader, val_evaluator and val_cfg')
        # The runner would build the schedulers right after this, while nothing is
        # labeled: the schedule builds them per cycle instead.
        self.schedule = CycleSchedule(runner, runner.param_schedulers, max_epochs)
        runner.param_schedulers = None
        self._initial_weights = None
        self._cycle = 0
        self._cycle_start_epoch = 0

    # Counters the runner, hooks and loggers read.
    @property
    def cycle(self) -> int:
        return self._cycle

    @property
    def epoch_in_cycle(self) -> int:
        return self._epoch - self._cycle_start_epoch

    @property
    def max_iters(self) -> int:
        """Iterations over all cycles, at the current budgets (for ETA and
        gradient accumulation)."""
        _, world_size = get_dist_info()
        batch_size = self.dataloader.batch_size or getattr(
            self.dataloader.batch_sampler, 'batch_size', 1)
        start = self.initial_size or len(self.dataloader.dataset)
        sizes = [start + c * self.query_size for c in range(self.cycles)]
        return sum(self.epochs_per_cycle *
                   math.ceil(math.ceil(size / world_size) / batch_size)
                   for size in sizes)

    @property
    def num_labeled(self) -> int:
        """Samples the current cycle trains on."""
        return self.oracle.num_labeled(self.pool, self.dataloader.dataset)

    def run(self):
        self.runner.call_hook('before_train')
        if self._start():
            # Accepted: the work dir's config copy records this run's options.
            self.runner.dump_config()
            self._run_cycles()
        self.runner.call_hook('after_train')
        return self.runner.model

    def _run_cycles(self) -> None:
        pool = self.pool
        while pool.cycles_done < self.cycles:
            cycle = pool.cycles_done
            if self._needs_initial_query():
                query = self.query.initial(pool, self.initial_size, self.seed)
                if not self._deliver(query):
                    return
            elif pool.needs_query():
                query = self.query.run(pool, cycle - 1, self.query_size,
                                       self.subset_size, self.seed)
                if not self._deliver(query):
                    return
            self._train_cycle(cycle)
            self._finish_cycle(cycle, self._evaluate())

    def _needs_initial_query(self) -> bool:
        pool = self.pool
        return (self.initial_size is not None and not pool.history
                and pool.initial_query is None and pool.awaiting is None)

    def _start(self) -> bool:
        """Restore a previous run's state (collecting the labels of its open
        query), count what is labeled already, and check that the strategy works
        with the model before any training. False: nothing to do."""
        # A self-supervised start of the target, before its initial weights
        # are kept (a later cycle's checkpoint replaces them on resume).
        self.query.initial_features.init_model(self.query)
        if self.reset_model:
            self._initial_weights = copy.deepcopy(
                unwrap(self.runner.model).state_dict())
        self.schedule.snapshot()
        if self.pool.exists():
            if not self.resume:
                raise InputError(
                    f'{self.pool.path} holds a previous active learning run; pass '
                    '--resume to continue it, or choose another --work-dir')
            if not self._restore():
                return False
        else:
            if self.resume:
                self.runner.logger.warning(
                    f'--resume: no {self.pool.path} yet, starting afresh')
            self.pool.initial_size = self.initial_size
        self.pool.label_keys(self.oracle.labeled_keys(self.pool))
        self.query.probe(self.pool)
        return True

    def _restore(self) -> bool:
        pool, logger = self.pool, self.runner.logger
        pool.load()
        if pool.initial_size != self.initial_size:
            raise InputError(
                f'initial_size={self.initial_size}, but {pool.path} was started with '
                f'initial_size={pool.initial_size}, and that decided which samples '
                'cycle 0 trained on. Resume with --cfg-options '
                f'train_cfg.initial_size={pool.initial_size}, or start a new run in '
                'another --work-dir')
        logger.info(f'Resuming active learning from {pool.path}: '
                    f'{pool.cycles_done} cycles done, {pool.num_labeled} labeled')
        last = pool.history[-1] if pool.history else None
        if last is not None:
            self._epoch, self._iter = last['epoch'], last['iter']
        if pool.cycles_done >= self.cycles:
            logger.info(
                f'Nothing to do: all {self.cycles} cycles in {pool.path} are done. To '
                'extend the run, resume with more cycles, e.g. --resume '
                f'--cfg-options train_cfg.cycles={self.cycles + 1}')
            return False
        self._check_budgets(pool.num_labeled, pool.queries_done)
        # The model first: a refused checkpoint leaves the state as it was.
        if last is not None and (not self.reset_model or pool.needs_query()):
            self._load_cycle_model(last)
        if pool.awaiting is not None:
            self.oracle.wait(pool.awaiting, self.allow_partial)
            self._collect()
        for name in ('query_size', 'subset_size'):
            recorded = [r[name] for r in pool.history if name in r]
            if recorded and recorded[-1] != getattr(self, name):
                logger.warning(f'{name} changed from {recorded[-1]} to '
                               f'{getattr(self, name)}: it applies to the queries '
                               'from now on and is recorded in al_state.json')
        return True

    def _load_cycle_model(self, record: dict) -> None:
        """The model of a finished cycle, from the checkpoint its record names.
        Only the run's own ``cycle_<k>.pth`` in the work dir is trusted (loaded
        with ``weights_only=False``), and it must hold this model's weights."""
        work_dir = self.runner.work_dir
        checkpoint = osp.join(work_dir, str(record['checkpoint']))
        cycle = record['cycle']
        if not osp.isfile(checkpoint):
            raise InputError(
                f'{checkpoint} is missing, but the run continues from the model '
                f'of cycle {cycle + 1}; put the file back, or start a new run in '
                'another --work-dir')
        # The work dir resolved, not the file: a link to elsewhere is not ours.
        own = osp.join(osp.realpath(work_dir), f'cycle_{cycle}.pth')
        trusted = osp.realpath(checkpoint) == own
        if not trusted:
            self.runner.logger.warning(
                f'{self.pool.path} names {checkpoint} for cycle {cycle + 1}, not '
                f"the run's own {own}: it is loaded with weights_only=True")
        with trusting(checkpoint) if trusted else contextlib.nullcontext():
            loaded = self.runner.load_checkpoint(checkpoint)
        # Checked here, not by a strict load: mmengine raises on rank 0 only.
        mismatch = weight_mismatch(unwrap(self.runner.model).state_dict(), loaded)
        if mismatch:
            raise InputError(
                f'{checkpoint} does not hold the weights of this model ({mismatch}), '
                f'so the run cannot continue from cycle {cycle + 1}: put back the '
                'checkpoint the run wrote, resume with the config that made it, or '
                'start a new run in another --work-dir')

    def _find_sampler(self) -> LabeledSubsetSampler:
        for sampler in (self.dataloader.sampler,
                        getattr(self.dataloader.batch_sampler, 'sampler', None)):
            if isinstance(sampler, LabeledSubsetSampler):
                return sampler
        raise RuntimeError('The train dataloader lost its LabeledSubsetSampler')

    def _check_budgets(self, labeled: int, queries_done: int) -> None:
        check_budgets(len(self.pool), self.cycles, self.initial_size,
                      self.query_size, self.subset_size, labeled, queries_done,
                      pool_grows=not self.oracle.fixed_pool)

    def _deliver(self, query) -> bool:
        """Hand a query to the oracle and record it; False: the run stops until
        its labels are in."""
        who = ('initial set' if query.cycle is None else
               f'model of cycle {query.cycle + 1}')
        self.runner.logger.info(f'Queried {len(query.items)} samples with the '
                                f'{who} ({self.strategy_name})')
        handed_over = self.oracle.deliver(query)
        if handed_over is None:
            self.pool.record_query(query.items, query.query_size,
                                   query.subset_size, initial=query.cycle is None)
            self.pool.save()
            return True
        # Recorded once the oracle has the query: a crash before this point
        # makes the resumed run choose and deliver the same query again.
        self.pool.awaiting = dict(query.record(), oracle=handed_over)
        self.pool.save()
        if not self.oracle.wait(self.pool.awaiting, self.allow_partial):
            self.awaited = LabelsAwaited(self.oracle, self.pool.awaiting)
            return False
        self._collect()
        return True

    def _collect(self) -> None:
        """Take the open query's labels from the oracle and record them."""
        with self.oracle.labels_lock():
            returned = self.oracle.collect(self.pool.awaiting, self.allow_partial,
                                           self.runner.logger)
            self.pool.close_awaiting(returned)
            self.pool.save()

    def _train_cycle(self, cycle: int) -> None:
        runner = self.runner
        self._cycle = cycle
        # Reseeding per cycle makes a resumed cycle train as the uninterrupted one.
        randomness = runner.cfg.get('randomness') or {}
        set_random_seed(self.seed + cycle,
                        deterministic=randomness.get('deterministic', False),
                        diff_rank_seed=randomness.get('diff_rank_seed', False))
        self._cycle_start_epoch = self._epoch
        if self.oracle.labeled_dataset_grows():
            self.dataloader = runner.build_dataloader(self._dataloader_cfg,
                                                      seed=self.seed)
            self.sampler = self._find_sampler()
        self.sampler.set_indices(
            self.oracle.training_indices(self.pool, self.dataloader.dataset))
        self.sampler.seed = self.seed
        if self._initial_weights is not None:
            unwrap(runner.model).load_state_dict(self._initial_weights)
        self.schedule.start_cycle(iters_per_epoch=len(self.dataloader))
        runner.logger.info(
            f'Active learning cycle {cycle + 1}/{self.cycles}: training on '
            f'{self.num_labeled} labeled samples for {self.epochs_per_cycle} '
            f'epochs ({self.strategy_name})')
        while self.epoch_in_cycle < self.epochs_per_cycle and not self.stop_training:
            self.sampler.set_epoch(self._epoch)
            self.run_epoch()
            if (self.val_interval and self.epoch_in_cycle % self.val_interval == 0
                    and self.epoch_in_cycle < self.epochs_per_cycle):
                runner.val_loop.run()
        # Early stopping ends the cycle, not the epoch count of the run.
        self._epoch = self._cycle_start_epoch + self.epochs_per_cycle

    def _evaluate(self) -> Dict:
        # DDP does not broadcast buffers here (mmengine's default): average the
        # BatchNorm statistics so that every rank evaluates and scores the same
        # model, and the selection does not depend on the world size.
        if get_dist_info()[1] > 1:
            all_reduce_params(self.runner.model.buffers(), op='mean')
        return self.runner.val_loop.run() or {}

    def _finish_cycle(self, cycle: int, metrics: Dict) -> None:
        runner = self.runner
        # The checkpoint is written before the state that names it, so the state
        # never points to a missing checkpoint.
        checkpoint = f'cycle_{cycle}.pth'
        runner.save_checkpoint(runner.work_dir, checkpoint, save_optimizer=False,
                               save_param_scheduler=False)
        self.pool.history.append(
            dict(cycle=cycle, num_labeled=self.num_labeled, metrics=metrics,
                 queried=None, checkpoint=checkpoint, epoch=self._epoch,
                 iter=self._iter))
        self.pool.save()
        runner.visualizer.add_scalars(
            dict({'al/num_labeled': self.num_labeled},
                 **{f'al/{k}': v for k, v in metrics.items()
                    if isinstance(v, numbers.Real)}),
            step=cycle)
        runner.logger.info(f'Cycle {cycle + 1}/{self.cycles} done: '
                           f'{self.num_labeled} labeled, metrics {metrics}')
        if is_main_process():
            self._plot()

    def _plot(self) -> None:
        try:
            plot_al_curves([(self.strategy_name, self.pool.history)],
                           osp.join(self.runner.work_dir, 'al_curve.png'),
                           metric=self.curve_metric)
        except (KeyError, ValueError) as error:
            # A plot never stops training.
            self.runner.logger.warning(f'al_curve.png not drawn: {error.args[0]}; '
                                       'set train_cfg.curve_metric to one of them')

