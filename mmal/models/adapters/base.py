import inspect
from contextlib import contextmanager
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from mmal.registry import LOSS_ADAPTERS
from .replay import copy_ground_truth


class BaseLossAdapter:
    """Knows how one family of toolbox models computes its loss, per sample.

    An adapter is registered in ``LOSS_ADAPTERS`` under the name of the model class it
    serves; subclasses of that class find it too (``SSD`` finds the adapter registered
    as ``SingleStageDetector``). Supporting a new toolbox model needs one adapter.
    """

    def loss(self, model: nn.Module, inputs, data_samples
             ) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        """Run the model's own loss once; return its loss dict, unchanged, and the
        per-sample target losses of shape (B,) on a scale comparable across batches."""
        raise NotImplementedError

    def relation(self, model: nn.Module) -> str:
        """How a per-sample target loss relates to the sample's loss computed
        alone, in words (logged once when the wrapper is built)."""
        return 'exact: each sample\'s own loss, as the toolbox computes it alone'

    def features(self, model: nn.Module, inputs, data_samples) -> torch.Tensor:
        """Pooled penultimate features (B, D), for the core-set strategy."""
        feats = model.extract_feat(inputs)
        last = feats[-1] if isinstance(feats, (tuple, list)) else feats
        return last.flatten(2).mean(dim=2) if last.dim() > 2 else last

    def entropy(self, model: nn.Module, inputs, data_samples) -> torch.Tensor:
        """Predictive entropy per sample (B,), for the entropy strategy."""
        raise NotImplementedError(
            f'{type(self).__name__} does not define entropy scores for '
            f'{type(model).__name__}')

    def uncertainty(self, model: nn.Module, inputs, data_samples,
                    measure) -> torch.Tensor:
        """``measure`` (a function of :mod:`~mmal.models.adapters.posteriors`) of
        the model's class posteriors, one score per sample (B,), for the margin
        and least-confidence strategies."""
        raise NotImplementedError(
            f'{type(self).__name__} gives no class posteriors for '
            f'{type(model).__name__}, so {measure.__name__} is not defined for it; '
            'use EntropyStrategy, LearningLossStrategy or CoreSetStrategy instead')

    def gradient_embedding(self, model: nn.Module, inputs, data_samples
                           ) -> torch.Tensor:
        """BADGE's gradient embedding per sample (B, C x D), for BADGEStrategy."""
        raise NotImplementedError(
            f'{type(self).__name__} gives no last-layer gradient embedding for '
            f'{type(model).__name__} (BADGEStrategy); use CoreSetStrategy for a '
            'diverse query instead')

    def mc_probabilities(self, model: nn.Module, inputs, data_samples,
                         passes: int, seed: int, head_dropout: float = 0.5
                         ) -> torch.Tensor:
        """Class posteriors of ``passes`` MC dropout passes (B, T, C), for
        BALDStrategy: the model's own dropout layers, else ``head_dropout`` on
        its head's input; masks fixed by ``seed``."""
        raise NotImplementedError(
            f'{type(self).__name__} gives no MC dropout posteriors for '
            f'{type(model).__name__} (BALDStrategy); use EntropyStrategy or '
            'LearningLossStrategy instead')


def plain_call(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``: a replay without isolation."""
    return fn(*args, **kwargs)


def select_sample(value, index: int, batch_size: int):
    """Sample ``index`` of batch-first tensors (also inside lists and tuples), kept
    batched with size 1; anything else is returned as it is."""
    if isinstance(value, torch.Tensor):
        if value.dim() > 0 and value.shape[0] == batch_size:
            return value[index:index + 1]
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(select_sample(item, index, batch_size) for item in value)
    return value


@contextmanager
def record_calls(module: nn.Module):
    """Record ``(args, kwargs, output)`` of every forward call of ``module`` in
    the block."""
    calls: List[tuple] = []

    def hook(mod, args, kwargs, output):
        calls.append((args, kwargs, output))

    handle = module.register_forward_hook(hook, with_kwargs=True)
    try:
        yield calls
    finally:
        handle.remove()


def loss_with_one_call(model, inputs, data_samples, recorder, what: str):
    """``model.loss`` while ``recorder`` (a :func:`record_calls` or
    :func:`record_method` block) records; the losses and the one recorded call.
    Per-sample replays need exactly one call to slice, so another count is an
    error naming what ran."""
    with recorder as calls:
        losses = model.loss(inputs, data_samples)
    if len(calls) != 1:
        raise RuntimeError(f'{what} ran {len(calls)} times in one loss; '
                           'expected once')
    return losses, calls[0]


@contextmanager
def record_method(obj, name: str):
    """Record ``(arguments, output)`` of every call of the method ``obj.name`` in
    the block, its arguments bound to their parameter names (for loss methods that
    are not a module's forward). Data elements among the arguments (ground truth)
    are recorded as copies made before the call, which may convert them in place."""
    calls: List[tuple] = []
    method = getattr(obj, name)
    signature = inspect.signature(method)

    def recorded(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = {key: copy_ground_truth(value)
                     for key, value in bound.arguments.items()}
        output = method(*args, **kwargs)
        calls.append((arguments, output))
        return output

    setattr(obj, name, recorded)
    try:
        yield calls
    finally:
        # The instance attribute goes; the class's method shows through again.
        delattr(obj, name)


def build_loss_adapter(model: nn.Module, cfg: Optional[dict] = None
                       ) -> BaseLossAdapter:
    """The adapter given by ``cfg``, else the one registered for the model's class
    or its nearest registered base class."""
    if cfg is not None:
        return LOSS_ADAPTERS.build(cfg)
    LOSS_ADAPTERS.import_from_location()
    for cls in type(model).__mro__:
        if cls.__name__ in LOSS_ADAPTERS.module_dict:
            return LOSS_ADAPTERS.get(cls.__name__)()
    raise KeyError(
        f'No loss adapter for {type(model).__name__}; registered for: '
        f'{sorted(LOSS_ADAPTERS.module_dict)}. Detection and pose adapters load '
        "on demand: add 'mmal.models.adapters.detection' or "
        "'mmal.models.adapters.pose' to custom_imports.")
