"""The feature source interface: features of pool samples before any label, for
cold-start strategies (:class:`mmal.strategies.TypiClustStrategy`,
:class:`mmal.strategies.ProbCoverStrategy`)."""
from typing import Sequence

import numpy as np


class BaseFeatureSource:
    """Where the initial query's ``features`` come from.

    :meth:`features` is called on every rank with the same samples and must
    return the same array everywhere (:class:`mmal.engine.PoolScorer` splits the
    work and gathers it, so the result does not depend on the world size).
    """

    def features(self, query, pool, indices: Sequence[int],
                 description: str) -> np.ndarray:
        """Features (N, D) of the pool samples ``indices``; ``query`` is the
        run's :class:`mmal.engine.PoolQuery` (its runner, pool dataset and
        scoring pipeline)."""
        raise NotImplementedError

    def init_model(self, query) -> None:
        """Before any training of a run: change the target's initial weights if
        this source is configured to (e.g. a self-supervised backbone)."""


def has_pretrained_weights(model_cfg, load_from=None) -> bool:
    """Whether the config gives the model weights of its own: ``load_from`` or a
    ``Pretrained`` ``init_cfg`` anywhere in the model config."""
    if load_from:
        return True

    def walk(node) -> bool:
        if isinstance(node, dict):
            init_cfg = node.get('init_cfg')
            inits = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
            if any(isinstance(i, dict) and i.get('type') == 'Pretrained'
                   for i in inits):
                return True
            return any(walk(value) for value in node.values())
        if isinstance(node, (list, tuple)):
            return any(walk(value) for value in node)
        return False

    return walk(model_cfg)


def default_feature_source(cfg) -> dict:
    """``train_cfg.initial_features`` when it is not set: the target's own
    backbone when the config gives it pretrained weights, else a self-supervised
    model trained on the pool."""
    if has_pretrained_weights(cfg.get('model'), cfg.get('load_from')):
        return dict(type='TargetBackboneFeatures')
    return dict(type='SelfSupervisedFeatures')
