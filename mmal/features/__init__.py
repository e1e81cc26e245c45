from .base import BaseFeatureSource, default_feature_source, has_pretrained_weights
from .self_supervised import SelfSupervisedFeatures, view_pipeline
from .target_backbone import TargetBackboneFeatures

__all__ = ['BaseFeatureSource', 'SelfSupervisedFeatures', 'TargetBackboneFeatures',
           'default_feature_source', 'has_pretrained_weights', 'view_pipeline']
