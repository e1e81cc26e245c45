from mmal.registry import FEATURE_SOURCES
from .base import BaseFeatureSource


@FEATURE_SOURCES.register_module()
class TargetBackboneFeatures(BaseFeatureSource):
    """The target model's own pooled features (its loss adapter's, as core-set
    uses: ``pre_logits`` of a classifier, the last backbone output of a detector)
    with the weights the config gives it, before any training: pretrained
    weights (``init_cfg=dict(type='Pretrained', ...)`` or ``load_from``, checked
    offline by ``tools/al_train.py``) where the user has them. Without them the
    features are those of a random network, a weak basis for a cold start: use
    :class:`SelfSupervisedFeatures` then (the default)."""

    def features(self, query, pool, indices, description):
        from mmal.engine.pool_scoring import features
        return query.scorer(pool).score(list(indices), features, description)
