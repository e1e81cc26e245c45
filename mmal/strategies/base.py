from typing import List, Optional, Sequence, Tuple

import numpy as np


class BaseStrategy:
    """Chooses which pool samples to label next.

    A strategy sees the candidates' keys and the model outputs the loop computed for
    them, never datasets or training. ``output`` names what the loop must compute:
    ``None`` (nothing), ``'predicted_loss'``, ``'entropy'`` or ``'features'``;
    ``needs_labeled_outputs`` asks for the same outputs of the labeled samples too.
    """

    output: Optional[str] = None
    needs_labeled_outputs = False

    def check_model(self, model) -> None:
        """Fail before training if the model cannot produce :attr:`output`."""

    def select(self, keys: Sequence[str], outputs: Optional[np.ndarray], num: int,
               rng: np.random.Generator,
               labeled_outputs: Optional[np.ndarray] = None
               ) -> Tuple[List[str], List[Optional[float]]]:
        """Return the chosen keys and a score for each (None where it has none)."""
        raise NotImplementedError


class TopScoreStrategy(BaseStrategy):
    """Labels the ``num`` candidates with the highest score; ties keep pool order."""

    def select(self, keys, outputs, num, rng, labeled_outputs=None):
        scores = np.asarray(outputs, dtype=np.float64).reshape(-1)
        if len(scores) != len(keys):
            raise ValueError(f'{len(scores)} scores for {len(keys)} candidates')
        chosen = np.argsort(-scores, kind='stable')[:num]
        return [keys[i] for i in chosen], [float(scores[i]) for i in chosen]
