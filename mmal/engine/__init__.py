from .active_learning_loop import ActiveLearningLoop
from .al_state import ActiveLearningState
from .checkpoint_loader import load_from_local_trusted
from .detach_hook import LossPredictionDetachHook
from .pool_scoring import PoolScorer

__all__ = ['ActiveLearningLoop', 'ActiveLearningState', 'LossPredictionDetachHook',
           'PoolScorer', 'load_from_local_trusted']
