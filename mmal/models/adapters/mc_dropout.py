"""Monte Carlo dropout with masks fixed by a seed and each sample's dataset index.

A sample's mask depends only on ``(seed, sample index, pass, layer)``, never on
its batch mates, its batch position or the rank that scores it, so BALD scores
do not change with the batch size or the world size. The model is left exactly
as it was: nothing is registered on it and no module or flag is changed.
"""
from typing import List, Sequence

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


def seeded_dropout(x: torch.Tensor, p: float, indices: Sequence[int], seed: int,
                   sample_pass: int, layer: int = 0) -> torch.Tensor:
    """Inverted dropout of a batch-first ``x``: sample i's mask is drawn from its
    own generator, seeded by ``(seed, indices[i], sample_pass, layer)``."""
    if p <= 0:
        return x
    masks = []
    for index in indices:
        state = np.random.SeedSequence([seed, index, sample_pass, layer])
        generator = torch.Generator().manual_seed(int(state.generate_state(1)[0]))
        masks.append(torch.rand(x.shape[1:], generator=generator) >= p)
    mask = torch.stack(masks).to(device=x.device, dtype=x.dtype)
    return x * mask / (1 - p)


class SeededDropoutPasses:
    """Turns the given dropout layers into always-on seeded dropout while the
    block runs; ``set_pass(t)`` chooses the masks of pass t. On exit the layers
    are as they were (their forward is the class's again).

    Args:
        layers (list[nn.Module]): Dropout layers of the model.
        indices (Sequence[int]): The batch's dataset indices.
        seed (int): Fixes the masks.
    """

    def __init__(self, layers, indices: Sequence[int], seed: int):
        self.layers, self.indices, self.seed = layers, list(indices), seed
        self.sample_pass = 0

    def set_pass(self, sample_pass: int) -> None:
        self.sample_pass = sample_pass

    def __enter__(self):
        for number, layer in enumerate(self.layers):
            # An instance attribute shadows the class's forward; deleted on exit.
            layer.forward = (lambda x, layer=layer, number=number: seeded_dropout(
                x, layer.p, self.indices, self.seed, self.sample_pass, number))
        return self

    def __exit__(self, *exc):
        for layer in self.layers:
            del layer.forward
        return False
