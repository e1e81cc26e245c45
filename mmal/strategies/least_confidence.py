from mmal.registry import STRATEGIES
from .base import BaseStrategy, top_scores


@STRATEGIES.register_module()
class LeastConfidenceStrategy(BaseStrategy):
    """Labels the candidates whose most probable class is least probable; the
    score is one minus that probability. The task's adapter defines the class
    posterior (for a detector: over its most confident boxes, as for entropy)."""

    def select(self, candidates, num, rng):
        return top_scores(candidates.keys, candidates.least_confidence(), num)
