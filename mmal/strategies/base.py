from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

Selection = Tuple[List[str], List[Optional[float]]]


class Candidates:
    """The unlabeled candidates of one query and the model outputs a strategy may
    ask for through its methods.

    Each output is computed on first use (the loop scores the candidates with the
    current model, with a progress bar) and cached, so a strategy pays only for
    what it asks. ``positions`` asks for a subset of the candidates (not cached).
    An output with options (``mutual_information(passes, seed)``) is cached per
    options.

    Args:
        keys (Sequence[str]): Candidate keys, in pool order.
        sources (dict): Output name -> ``fn(positions or None, **options) ->
            np.ndarray``.
    """

    def __init__(self, keys: Sequence[str],
                 sources: Dict[str, Callable[[Optional[Sequence[int]]], np.ndarray]]):
        self.keys = list(keys)
        self._sources = sources
        self._cache: Dict[str, np.ndarray] = {}

    @classmethod
    def from_arrays(cls, keys: Sequence[str], **arrays) -> 'Candidates':
        """Candidates whose outputs are known arrays (tests, offline selection);
        ``labeled_features`` is not indexed by candidate positions."""

        def source(name, array):
            array = np.asarray(array)
            if name == 'labeled_features':
                return lambda positions, **options: array
            return lambda positions, **options: array if positions is None else array[
                list(positions)]

        return cls(keys, {name: source(name, array) for name, array in arrays.items()})

    def __len__(self) -> int:
        return len(self.keys)

    def _output(self, name: str, positions=None, **options) -> np.ndarray:
        if name not in self._sources:
            raise KeyError(f'Model output {name!r} is not available for this query; '
                           f'available: {sorted(self._sources)}')
        if positions is not None:
            return np.asarray(self._sources[name](list(positions), **options))
        key = (name, ) + tuple(sorted(options.items()))
        if key not in self._cache:
            self._cache[key] = np.asarray(self._sources[name](None, **options))
        return self._cache[key]

    def predicted_loss(self, positions=None) -> np.ndarray:
        """The loss prediction module's output per candidate, (N,)."""
        return self._output('predicted_loss', positions)

    def entropy(self, positions=None) -> np.ndarray:
        """The task's predictive entropy per candidate (its loss adapter's), (N,)."""
        return self._output('entropy', positions)

    def features(self, positions=None) -> np.ndarray:
        """Pooled penultimate features per candidate, (N, D)."""
        return self._output('features', positions)

    def labeled_features(self) -> np.ndarray:
        """Pooled penultimate features of the labeled samples, (L, D)."""
        return self._output('labeled_features')

    def margin(self, positions=None) -> np.ndarray:
        """One minus the gap between the top two class probabilities, per
        candidate (N,); the task's adapter defines the posterior."""
        return self._output('margin', positions)

    def least_confidence(self, positions=None) -> np.ndarray:
        """One minus the top class probability per candidate (N,)."""
        return self._output('least_confidence', positions)

    def gradient_embedding(self, positions=None) -> np.ndarray:
        """BADGE's last-layer gradient embedding at the predicted label per
        candidate, (N, C x D)."""
        return self._output('gradient_embedding', positions)

    def mutual_information(self, passes: int, seed: int, head_dropout: float = 0.5,
                           positions=None) -> np.ndarray:
        """BALD's mutual information from ``passes`` MC dropout passes whose
        masks ``seed`` fixes (``head_dropout`` on the head's input of a model
        without dropout layers), per candidate (N,)."""
        return self._output('mutual_information', positions, passes=passes,
                            seed=seed, head_dropout=head_dropout)


class BaseStrategy:
    """Chooses which candidates to label next.

    A strategy sees the candidates' keys and asks :class:`Candidates` for the model
    outputs it needs; it never sees datasets or training. The loop runs it once on
    a couple of pool samples before training, so a strategy that cannot work with
    the model fails before a cycle is spent.
    """

    def check_model(self, model) -> None:
        """Fail with the fix if the model cannot serve this strategy (called before
        the probe, for a clearer message than the probe's error)."""

    def select(self, candidates: Candidates, num: int,
               rng: np.random.Generator) -> Selection:
        """Return the chosen keys and a score for each (None where it has none)."""
        raise NotImplementedError


def top_scores(keys: Sequence[str], scores, num: int) -> Selection:
    """The ``num`` keys with the highest scores; ties keep pool order."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(keys):
        raise ValueError(f'{len(scores)} scores for {len(keys)} candidates')
    chosen = np.argsort(-scores, kind='stable')[:num]
    return [keys[i] for i in chosen], [float(scores[i]) for i in chosen]
