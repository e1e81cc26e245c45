from .badge import BADGEStrategy, kmeans_plus_plus
from .bald import BALDStrategy
from .base import BaseStrategy, Candidates, top_scores
from .coreset import CoreSetStrategy, k_center_greedy
from .diverse_learning_loss import DiverseLearningLossStrategy
from .entropy import EntropyStrategy
from .learning_loss import LearningLossStrategy
from .least_confidence import LeastConfidenceStrategy
from .margin import MarginStrategy
from .probcover import ProbCoverStrategy
from .random_strategy import RandomStrategy
from .typiclust import TypiClustStrategy

__all__ = ['BADGEStrategy', 'BALDStrategy', 'BaseStrategy', 'Candidates',
           'CoreSetStrategy', 'DiverseLearningLossStrategy', 'EntropyStrategy',
           'LearningLossStrategy', 'LeastConfidenceStrategy', 'MarginStrategy',
           'ProbCoverStrategy', 'RandomStrategy', 'TypiClustStrategy',
           'k_center_greedy', 'kmeans_plus_plus', 'top_scores']
