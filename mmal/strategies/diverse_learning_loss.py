import math

import numpy as np

from mmal.registry import STRATEGIES
from .coreset import k_center_greedy
from .learning_loss import LearningLossStrategy


@STRATEGIES.register_module()
class DiverseLearningLossStrategy(LearningLossStrategy):
    """Learning loss with a diverse query: of the ``ceil(beta * K)`` candidates with
    the highest predicted loss, label K chosen by k-center greedy on their pooled
    penultimate features, so one query does not spend its budget on near-duplicates.

    The first pick is the highest predicted loss; each next one is the shortlisted
    candidate farthest from the picks so far (labeled samples are not centers: the
    point is diversity within the query, not coverage of the pool, which is
    core-set's job). ``beta=1`` is plain learning loss; a larger beta trades
    predicted loss for diversity, and ``beta * K >= M`` is k-center over the whole
    subset. Scores are the predicted losses of the chosen candidates.

    Args:
        beta (float): Shortlist size as a multiple of the query size K (>= 1).
            Defaults to 2: every pick still ranks in the top 2K by predicted loss.
        chunk_size (int): Points per distance block (see ``k_center_greedy``).
    """

    def __init__(self, beta: float = 2.0, chunk_size: int = 4096):
        if beta < 1:
            raise ValueError(f'beta must be at least 1 (a shortlist of at least K '
                             f'candidates), got {beta}')
        self.beta = beta
        self.chunk_size = chunk_size

    def select(self, candidates, num, rng):
        loss = np.asarray(candidates.predicted_loss(), dtype=np.float64)
        shortlist = np.argsort(-loss, kind='stable')[:math.ceil(self.beta * num)]
        # Shortlist in descending predicted loss: with no centers k-center greedy
        # starts at position 0, and distance ties go to the higher loss.
        features = candidates.features(shortlist.tolist())
        picks, _ = k_center_greedy(features, features[:0], num, self.chunk_size)
        chosen = shortlist[picks]
        return [candidates.keys[i] for i in chosen], [float(loss[i]) for i in chosen]
