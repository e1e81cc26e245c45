from .active_learning_loop import ActiveLearningLoop
from .checkpoint_loader import load_from_local_trusted
from .cycle_schedule import CycleSchedule
from .detach_hook import LossPredictionDetachHook
from .pool_query import PoolQuery
from .pool_scoring import PoolScorer

__all__ = ['ActiveLearningLoop', 'CycleSchedule', 'LossPredictionDetachHook',
           'PoolQuery', 'PoolScorer', 'load_from_local_trusted']
