from mmal.registry import STRATEGIES
from .base import BaseStrategy, top_scores


@STRATEGIES.register_module()
class MarginStrategy(BaseStrategy):
    """Labels the candidates whose two most probable classes are closest (margin
    sampling, Scheffer et al., 2001); the score is one minus that gap, so a
    two-way tie scores 1. The task's adapter defines the class posterior (for a
    detector: the least certain of its most confident boxes, as for entropy)."""

    def select(self, candidates, num, rng):
        return top_scores(candidates.keys, candidates.margin(), num)
