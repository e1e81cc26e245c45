from collections import Counter
from typing import List, Optional, Sequence

from mmengine.dataset import RepeatDataset
from torch.utils.data import ConcatDataset

# Stable sample ids in order of preference: an instance id (MPII), an image id (VOC,
# COCO), else mmengine's index within the leaf dataset (CIFAR).
KEY_FIELDS = ('id', 'img_id', 'sample_idx')


def _leaf_groups(dataset) -> List[tuple]:
    """(leaf number, dataset indices) for each distinct sample, in dataset order."""
    if isinstance(dataset, RepeatDataset):
        inner, length = _leaf_groups(dataset.dataset), len(dataset.dataset)
        return [(leaf, [i + k * length for k in range(dataset.times) for i in group])
                for leaf, group in inner]
    if isinstance(dataset, ConcatDataset):
        groups, offset, leaf_offset = [], 0, 0
        for sub in dataset.datasets:
            sub_groups = _leaf_groups(sub)
            groups += [(leaf_offset + leaf, [offset + i for i in group])
                       for leaf, group in sub_groups]
            leaf_offset += 1 + max((leaf for leaf, _ in sub_groups), default=0)
            offset += len(sub)
        return groups
    return [(0, [i]) for i in range(len(dataset))]


class PoolLayout:
    """The distinct samples of a training dataset and their stable keys.

    Under ``RepeatDataset`` one sample appears at several indices and under
    ``ConcatDataset`` (VOC07+12) indices run across the parts; the pool counts each
    sample once and remembers every dataset index that shows it.

    Args:
        dataset: The built training dataset.
        key_field (str, optional): The data-info field that identifies a sample.
            Defaults to the first of ``KEY_FIELDS`` present.
    """

    def __init__(self, dataset, key_field: Optional[str] = None):
        leaf_groups = _leaf_groups(dataset)
        self.groups: List[List[int]] = [group for _, group in leaf_groups]
        if not self.groups:
            raise ValueError('The training dataset is empty: check data_root and '
                             'ann_file of train_dataloader.dataset')
        first_info = dataset.get_data_info(self.groups[0][0])
        if key_field is None:
            key_field = next((f for f in KEY_FIELDS if f in first_info), None)
        elif key_field not in first_info:
            raise KeyError(f'key_field={key_field!r} is not in the data info of the '
                           f'training samples; available: {sorted(first_info)}')
        self.key_field = key_field
        if key_field is None:
            keys = [str(i) for i in range(len(self.groups))]
        else:
            keys = [str(dataset.get_data_info(group[0])[key_field])
                    for group in self.groups]
        if len(set(keys)) != len(keys):
            # Per-part ids (sample_idx under ConcatDataset) repeat: qualify them.
            keys = [f'{leaf}/{key}' for (leaf, _), key in zip(leaf_groups, keys)]
        duplicates = [key for key, n in Counter(keys).items() if n > 1]
        if duplicates:
            raise ValueError(f'Sample keys from field {key_field!r} are not unique '
                             f'(e.g. {duplicates[:3]}); set train_cfg.key_field')
        self.keys: List[str] = keys
        self.position = {key: i for i, key in enumerate(keys)}

    def __len__(self) -> int:
        return len(self.keys)

    def dataset_indices(self, pool_indices: Sequence[int]) -> List[int]:
        """Every dataset index that shows one of the given pool samples."""
        return [i for pool_index in pool_indices for i in self.groups[pool_index]]
