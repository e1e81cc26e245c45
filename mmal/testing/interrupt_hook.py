"""Hooks that kill a run as a crash would, and that record what a cycle starts
from."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class InterruptAtCycleHook(Hook):
    """Raises at the start of ``cycle``, or after its ``iteration``-th training
    step (counted from 1 within the cycle) when given."""

    def __init__(self, cycle: int, iteration: Optional[int] = None):
        self.cycle = cycle
        self.iteration = iteration
        self._steps = 0

    def before_train_epoch(self, runner):
        loop = runner.train_loop
        if (self.iteration is None and loop.cycle == self.cycle
                and loop.epoch_in_cycle == 0):
            raise RuntimeError(f'simulated kill at the start of cycle {self.cycle}')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.iteration is None or runner.train_loop.cycle != self.cycle:
            return
        self._steps += 1
        if self._steps == self.iteration:
            raise RuntimeError(f'simulated kill in cycle {self.cycle}, step '
                               f'{self.iteration}')


@HOOKS.register_module()
class CycleStartRecorder(Hook):
    """Records the optimizer as each cycle's first epoch starts: ``records`` holds
    (cycle, learning rates, optimizer state entries, param-group keys)."""

    def __init__(self):
        self.records = []

    def before_train_epoch(self, runner):
        loop = runner.train_loop
        if loop.epoch_in_cycle != 0:
            return
        optimizer = runner.optim_wrapper.optimizer
        self.records.append(dict(
            cycle=loop.cycle,
            lr=[group['lr'] for group in optimizer.param_groups],
            state=len(optimizer.state),
            keys=sorted(optimizer.param_groups[0])))
