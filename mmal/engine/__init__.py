from .active_learning_loop import ActiveLearningLoop
from .active_learning_runner import ActiveLearningRunner
from .checkpoint_loader import trust_checkpoint, trusting
from .cycle_schedule import CycleSchedule
from .detach_hook import LossPredictionDetachHook
from .pool_query import PoolQuery
from .pool_scoring import PoolScorer

__all__ = ['ActiveLearningLoop', 'ActiveLearningRunner', 'CycleSchedule',
           'LossPredictionDetachHook', 'PoolQuery', 'PoolScorer',
           'trust_checkpoint', 'trusting']
