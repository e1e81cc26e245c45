"""Monte Carlo dropout with masks fixed by a seed and each sample's dataset index.

A sample's masks depend only on ``(seed, sample index, layer)``, never on its
batch mates, its batch position or the rank that scores it, so BALD scores do not
change with the batch size or the world size. The model is left exactly as it
was: nothing is registered on it and no module or flag is changed.
"""
from typing import Dict, List, Sequence

import numpy as np
import torch
import torch.nn as nn

from mmal.utils.errors import InputError


def sample_indices(data_samples) -> List[int]:
    """Each sample's dataset index (``sample_idx``, which mmengine's datasets
    give every sample and the toolboxes' packing transforms keep)."""
    indices = [None if sample is None else sample.metainfo.get('sample_idx')
               for sample in (data_samples or [])]
    if not indices or any(index is None for index in indices):
        raise InputError(
            'MC dropout needs each sample\'s dataset index: keep "sample_idx" in '
            "the scoring pipeline's packing transform (meta_keys), as the "
            'toolboxes do by default')
    return [int(index) for index in indices]


def dropout_layers(model: nn.Module) -> List[nn.Module]:
    """The model's dropout layers that drop anything (p > 0)."""
    return [module for module in model.modules()
            if isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0]


def dropout_masks(shape, p: float, indices: Sequence[int], seed: int,
                  passes: int, layer: int = 0) -> torch.Tensor:
    """Inverted-dropout masks ``(B, passes, *shape)``, already scaled by
    ``1 / (1 - p)``: sample i's come from one generator seeded by
    ``(seed, indices[i], layer)``, all passes in one draw."""
    masks = []
    for index in indices:
        state = np.random.SeedSequence([seed, index, layer]).generate_state(1)[0]
        generator = torch.Generator().manual_seed(int(state))
        masks.append(torch.rand((passes, ) + tuple(shape), generator=generator) >= p)
    return torch.stack(masks).float() / (1 - p)


class SeededDropoutPasses:
    """Turns the given dropout layers into always-on seeded dropout while the
    block runs; ``set_pass(t)`` chooses the masks of pass t. On exit the layers
    are as they were (their forward is the class's again).

    Args:
        layers (list[nn.Module]): Dropout layers of the model.
        indices (Sequence[int]): The batch's dataset indices.
        seed (int): Fixes the masks.
        passes (int): Number of passes T.
    """

    def __init__(self, layers, indices: Sequence[int], seed: int, passes: int):
        self.layers, self.indices = layers, list(indices)
        self.seed, self.passes = seed, passes
        self.sample_pass = 0
        self._masks: Dict[tuple, torch.Tensor] = {}

    def set_pass(self, sample_pass: int) -> None:
        self.sample_pass = sample_pass

    def _dropout(self, x: torch.Tensor, layer: nn.Module, number: int):
        key = (number, tuple(x.shape[1:]))
        if key not in self._masks:  # drawn on the layer's first call
            self._masks[key] = dropout_masks(
                x.shape[1:], layer.p, self.indices, self.seed, self.passes,
                number).to(device=x.device, dtype=x.dtype)
        return x * self._masks[key][:, self.sample_pass]

    def __enter__(self):
        for number, layer in enumerate(self.layers):
            # An instance attribute shadows the class's forward; deleted on exit.
            layer.forward = (lambda x, layer=layer, number=number: self._dropout(
                x, layer, number))
        return self

    def __exit__(self, *exc):
        for layer in self.layers:
            del layer.forward
        return False
