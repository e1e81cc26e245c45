"""Registries that mmal adds; models, loops, hooks, datasets and samplers go into
mmengine's root registries so that mmdet, mmpose and mmpretrain scopes all find them."""
from mmengine.registry import Registry

# Query strategies: (keys, model outputs) -> chosen positions.
STRATEGIES = Registry('active learning strategy', locations=['mmal.strategies'])

# Per-sample target-loss adapters, registered under the model class name they serve.
LOSS_ADAPTERS = Registry('loss adapter', locations=['mmal.models.adapters'])

# Who labels the queried samples: SimulatedOracle (the pool's own annotations) or
# HumanOracle (export for an annotation tool, import with tools/al_import.py).
ORACLES = Registry('active learning oracle', locations=['mmal.oracles'])

# Where cold-start strategies get features before any label: the target's own
# backbone, or a self-supervised model trained on the pool.
FEATURE_SOURCES = Registry('feature source', locations=['mmal.features'])
