import math
from typing import Iterator, Optional, Sequence

from mmengine.dataset import DefaultSampler
from mmengine.registry import DATA_SAMPLERS
from torch.utils.data import Sampler


@DATA_SAMPLERS.register_module()
class LabeledSubsetSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` over the labeled indices only.

    The active learning loop sets the indices each cycle (:meth:`set_indices`).
    ``DefaultSampler`` shuffles and pads positions ``0..len(self.dataset)-1``; here
    ``self.dataset`` is a view of the training dataset as long as the labeled list,
    and those positions index that list, so every rank still gets the same number
    of samples and runs the same number of steps. Batch samplers that read
    ``sampler.dataset.get_data_info(index)`` (mmdet's aspect-ratio grouping) get
    the training dataset's.

    Args:
        dataset: The training dataset.
        shuffle (bool): Shuffle each epoch. Defaults to True.
        seed (int, optional): Shuffle seed, shared by all ranks.
        round_up (bool): Pad so that all ranks get equal shares. Defaults to True.
    """

    def __init__(self, dataset, shuffle: bool = True, seed: Optional[int] = None,
                 round_up: bool = True):
        # Nothing is labeled yet: DefaultSampler sizes itself on an empty view.
        super().__init__(_LabeledView(dataset, []), shuffle=shuffle, seed=seed,
                         round_up=round_up)
        self.set_indices([])

    def set_indices(self, indices: Sequence[int]) -> None:
        self.indices = list(indices)
        self.dataset = _LabeledView(self.dataset.dataset, self.indices)
        if self.round_up:
            self.num_samples = math.ceil(len(self.indices) / self.world_size)
            self.total_size = self.num_samples * self.world_size
        else:
            self.num_samples = math.ceil(
                max(len(self.indices) - self.rank, 0) / self.world_size)
            self.total_size = len(self.indices)

    def __iter__(self) -> Iterator[int]:
        if not self.indices:
            return iter([])
        return (self.indices[position] for position in super().__iter__())


class _LabeledView:
    """The training dataset, with the length of the labeled list."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getattr__(self, name):
        return getattr(self.__dict__['dataset'], name)


class IndexSampler(Sampler):
    """Yields the given indices in order (pool scoring)."""

    def __init__(self, indices: Sequence[int]):
        self.indices = list(indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
