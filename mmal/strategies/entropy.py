from mmal.registry import STRATEGIES
from .base import BaseStrategy, top_scores


@STRATEGIES.register_module()
class EntropyStrategy(BaseStrategy):
    """Labels the candidates whose prediction has the highest entropy; how a task
    turns its outputs into one entropy per sample is its loss adapter's ``entropy``."""

    def select(self, candidates, num, rng):
        return top_scores(candidates.keys, candidates.entropy(), num)
