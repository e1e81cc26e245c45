"""Per-sample target losses for mmpose's top-down heatmap estimators.

Imported by the pose configs (``custom_imports``), never by ``import mmal``.
"""
from contextlib import ExitStack
from typing import List

import torch
import torch.nn as nn

from mmal.registry import LOSS_ADAPTERS
from .base import BaseLossAdapter, record_calls, select_sample


def head_loss_modules(head: nn.Module) -> List[nn.Module]:
    """The distinct loss modules of an mmpose head: one shared by all stages, or
    one per stage (``loss=[...]`` gives an ``nn.ModuleList``)."""
    loss_module = getattr(head, 'loss_module', None)
    if loss_module is None:
        raise TypeError(f'{type(head).__name__} has no loss_module; the pose loss '
                        'adapter serves heatmap heads such as HeatmapHead and '
                        'CPMHead')
    modules = (list(loss_module)
               if isinstance(loss_module, nn.ModuleList) else [loss_module])
    unique = []
    for module in modules:
        # A module listed twice would record its calls twice.
        if all(module is not seen for seen in unique):
            unique.append(module)
    return unique


@LOSS_ADAPTERS.register_module(name='TopdownPoseEstimator')
class TopdownHeatmapLossAdapter(BaseLossAdapter):
    """mmpose ``TopdownPoseEstimator`` with a heatmap head (``HeatmapHead``,
    ``CPMHead`` with several stages, ...).

    The head's loss modules are recorded while the model computes its own loss, and
    every recorded call (one per supervised stage) is repeated on each sample's slice
    of its arguments. A sample's target loss is the sum over those calls, as
    ``loss_kpt`` sums the stages. For the mean-reduced ``KeypointMSELoss`` the batch
    mean of the per-sample losses is ``loss_kpt``, target weights included, and a
    sample without a visible joint gets 0.

    Core-set features are the base adapter's: the last backbone output (the last
    hourglass stack) average pooled.
    """

    def loss(self, model, inputs, data_samples):
        modules = head_loss_modules(model.head)
        with ExitStack() as stack:
            records = [stack.enter_context(record_calls(module))
                       for module in modules]
            losses = model.loss(inputs, data_samples)
        calls = [(module, call) for module, record in zip(modules, records)
                 for call in record]
        if not calls:
            raise RuntimeError(f'{type(model.head).__name__}.loss did not call its '
                               'loss_module; cannot compute per-sample losses')
        batch_size = inputs.shape[0]
        per_sample = inputs.new_zeros(batch_size)
        # Ranking targets are detached anyway: no graph for the repeated calls.
        with torch.no_grad():
            for module, (args, kwargs, _) in calls:
                for i in range(batch_size):
                    value = module(
                        *(select_sample(arg, i, batch_size) for arg in args),
                        **{key: select_sample(arg, i, batch_size)
                           for key, arg in kwargs.items()})
                    if value.numel() != 1:
                        raise RuntimeError(
                            f'{type(module).__name__} returned shape '
                            f'{tuple(value.shape)} for one sample; the pose loss '
                            'adapter needs losses that reduce to a scalar')
                    per_sample[i] += value.reshape(())
        return losses, per_sample
