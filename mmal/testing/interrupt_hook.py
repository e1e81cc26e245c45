"""A hook that kills a run at the start of a cycle, as a crash would."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class InterruptAtCycleHook(Hook):

    def __init__(self, cycle: int):
        self.cycle = cycle

    def before_train_epoch(self, runner):
        loop = runner.train_loop
        if loop.cycle == self.cycle and loop.epoch_in_cycle == 0:
            raise RuntimeError(f'simulated kill at the start of cycle {self.cycle}')
