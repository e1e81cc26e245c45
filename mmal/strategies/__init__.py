from .base import BaseStrategy, Candidates, top_scores
from .coreset import CoreSetStrategy, k_center_greedy
from .diverse_learning_loss import DiverseLearningLossStrategy
from .entropy import EntropyStrategy
from .learning_loss import LearningLossStrategy
from .probcover import ProbCoverStrategy
from .random_strategy import RandomStrategy
from .typiclust import TypiClustStrategy

__all__ = ['BaseStrategy', 'Candidates', 'CoreSetStrategy',
           'DiverseLearningLossStrategy', 'EntropyStrategy',
           'LearningLossStrategy', 'ProbCoverStrategy', 'RandomStrategy',
           'TypiClustStrategy', 'k_center_greedy', 'top_scores']
