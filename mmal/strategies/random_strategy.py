from mmal.registry import STRATEGIES
from .base import BaseStrategy


@STRATEGIES.register_module()
class RandomStrategy(BaseStrategy):
    """Labels a uniformly random choice of the candidates (the paper's baseline)."""

    def select(self, candidates, num, rng):
        chosen = rng.choice(len(candidates), size=min(num, len(candidates)),
                            replace=False)
        return [candidates.keys[i] for i in sorted(chosen)], [None] * len(chosen)
