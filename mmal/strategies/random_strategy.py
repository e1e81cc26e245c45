from mmal.registry import STRATEGIES
from .base import BaseStrategy


@STRATEGIES.register_module()
class RandomStrategy(BaseStrategy):
    """Labels a uniformly random choice of the candidates (the paper's baseline)."""

    def select(self, keys, outputs, num, rng, labeled_outputs=None):
        chosen = rng.choice(len(keys), size=min(num, len(keys)), replace=False)
        return [keys[i] for i in sorted(chosen)], [None] * len(chosen)
