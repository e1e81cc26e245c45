from .base import BaseStrategy, TopScoreStrategy
from .coreset import CoreSetStrategy, k_center_greedy
from .entropy import EntropyStrategy
from .learning_loss import LearningLossStrategy
from .random_strategy import RandomStrategy

__all__ = ['BaseStrategy', 'CoreSetStrategy', 'EntropyStrategy',
           'LearningLossStrategy', 'RandomStrategy', 'TopScoreStrategy',
           'k_center_greedy']
