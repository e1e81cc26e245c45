from .active_pool import ActivePool
from .pool_layout import KEY_FIELDS, PoolLayout
from .samplers import IndexSampler, LabeledSubsetSampler

__all__ = ['KEY_FIELDS', 'ActivePool', 'IndexSampler', 'LabeledSubsetSampler',
           'PoolLayout']
