import math
from typing import Iterator, List, Optional, Sequence

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.registry import DATA_SAMPLERS
from torch.utils.data import Sampler


@DATA_SAMPLERS.register_module()
class LabeledSubsetSampler(Sampler):
    """Like mmengine's ``DefaultSampler``, over the labeled indices only.

    The active learning loop sets the indices each cycle (:meth:`set_indices`). Each
    rank gets the same number of samples (the index list is padded by wrapping when
    ``round_up``), so every rank runs the same number of steps.

    Args:
        dataset: The training dataset.
        shuffle (bool): Shuffle each epoch. Defaults to True.
        seed (int, optional): Shuffle seed, shared by all ranks.
        round_up (bool): Pad so that all ranks get equal shares. Defaults to True.
    """

    def __init__(self, dataset, shuffle: bool = True, seed: Optional[int] = None,
                 round_up: bool = True):
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.round_up = round_up
        self.rank, self.world_size = get_dist_info()
        self.epoch = 0
        self.indices: List[int] = []

    def set_indices(self, indices: Sequence[int]) -> None:
        self.indices = list(indices)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        indices = self.indices
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + self.epoch)
            order = torch.randperm(len(indices), generator=generator).tolist()
            indices = [indices[i] for i in order]
        if self.round_up and indices:
            total = self._per_rank() * self.world_size
            indices = (indices * math.ceil(total / len(indices)))[:total]
        return iter(indices[self.rank::self.world_size])

    def _per_rank(self) -> int:
        if self.round_up:
            return math.ceil(len(self.indices) / self.world_size)
        return math.ceil((len(self.indices) - self.rank) / self.world_size)

    def __len__(self) -> int:
        return self._per_rank()


class IndexSampler(Sampler):
    """Yields the given indices in order (pool scoring)."""

    def __init__(self, indices: Sequence[int]):
        self.indices = list(indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
