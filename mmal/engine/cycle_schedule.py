import copy
import math
from typing import Optional

from mmengine.hooks import EarlyStoppingHook


class CycleSchedule:
    """Makes every active learning cycle train like a fresh run: the optimizer
    wrapper's state as it was built (momentum buffers, learning rates, the AMP loss
    scaler), freshly built parameter schedulers, and early stopping re-armed.

    The runner would build the schedulers before anything is labeled (then
    ``convert_to_iter_based`` sees an empty epoch); they are built per cycle
    instead, once the cycle's labeled set is known. A scheduler without ``end``
    ends with the cycle, not with the whole run.

    Args:
        runner: The mmengine runner.
        scheduler_cfg: The config's ``param_scheduler`` (dict, list or None).
        epochs_per_cycle (int): Training epochs per cycle.
    """

    def __init__(self, runner, scheduler_cfg, epochs_per_cycle: int):
        self.runner = runner
        self.scheduler_cfg = copy.deepcopy(scheduler_cfg)
        self.epochs_per_cycle = epochs_per_cycle
        self._optimizer_state: Optional[dict] = None

    def snapshot(self) -> None:
        """Remember the optimizer wrapper's initial state (before any step)."""
        self._optimizer_state = copy.deepcopy(self.runner.optim_wrapper.state_dict())

    def start_cycle(self, iters_per_epoch: int) -> None:
        runner = self.runner
        if self._optimizer_state is None:
            self.snapshot()
        runner.optim_wrapper.load_state_dict(copy.deepcopy(self._optimizer_state))
        # A new cycle trains anew: the previous cycle's stop does not carry over.
        runner.train_loop.stop_training = False
        for hook in runner.hooks:
            if isinstance(hook, EarlyStoppingHook):
                # Patience and the best score count within a cycle.
                hook.wait_count = 0
                hook.best_score = -math.inf if hook.rule == 'greater' else math.inf
        if self.scheduler_cfg is None or self.epochs_per_cycle == 0:
            runner.param_schedulers = None
            return
        runner.param_schedulers = runner.build_param_scheduler(
            self._ending_with_cycle(iters_per_epoch))

    def _ending_with_cycle(self, iters_per_epoch: int):
        cfg = copy.deepcopy(self.scheduler_cfg)
        for scheduler in _scheduler_cfgs(cfg):
            if 'end' in scheduler:
                continue
            by_epoch = scheduler.get('by_epoch', True)
            scheduler['end'] = (self.epochs_per_cycle if by_epoch else
                                self.epochs_per_cycle * iters_per_epoch)
        return cfg


def _scheduler_cfgs(cfg):
    """Every scheduler config in ``param_scheduler``: one, a list, or a dict of
    lists keyed by optimizer (``OptimWrapperDict``)."""
    if isinstance(cfg, dict) and 'type' not in cfg:
        for value in cfg.values():
            yield from _scheduler_cfgs(value)
    elif isinstance(cfg, (list, tuple)):
        for item in cfg:
            yield from _scheduler_cfgs(item)
    elif isinstance(cfg, dict):
        yield cfg
