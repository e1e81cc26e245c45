"""mmal: Learning Loss for Active Learning as an OpenMMLab plugin.

``import mmal`` (or ``custom_imports=dict(imports=['mmal'])``) registers the
toolbox-agnostic parts in mmengine's root registries. Task-specific parts load only
where a config names them: ``mmal.models.adapters.detection`` (mmdet),
``mmal.models.adapters.pose`` (mmpose), ``mmal.datasets.digits`` (mmpretrain).
"""
from . import datasets, engine, features, models, oracles, strategies  # noqa: F401
from .version import __version__

__all__ = ['__version__']
