# Only the toolbox-agnostic base and the classification adapter load with mmal;
# detection and pose adapters are imported by the configs that need them.
from .base import (BaseLossAdapter, build_loss_adapter, record_calls,
                   record_method, select_sample)
from .classification import ClassificationLossAdapter
from .replay import IsolatedReplays, copy_ground_truth

__all__ = ['BaseLossAdapter', 'ClassificationLossAdapter', 'IsolatedReplays',
           'build_loss_adapter', 'copy_ground_truth', 'record_calls',
           'record_method', 'select_sample']
