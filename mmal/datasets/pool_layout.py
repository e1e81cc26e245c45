import os
import os.path as osp
from collections import Counter
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import RepeatDataset
from torch.utils.data import ConcatDataset

# Stable sample ids in order of preference: an instance id (MPII), an image id (VOC,
# COCO), else mmengine's index within the leaf dataset (CIFAR).
KEY_FIELDS = ('id', 'img_id', 'sample_idx')


def _leaf_groups(dataset) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(leaf number, index within the leaf, dataset indices padded with -1) of each
    distinct sample, in dataset order; arrays, so a million samples cost no loop."""
    if isinstance(dataset, RepeatDataset):
        leaf, local, groups = _leaf_groups(dataset.dataset)
        length = len(dataset.dataset)
        copies = [np.where(groups >= 0, groups + k * length, -1)
                  for k in range(dataset.times)]
        return leaf, local, np.concatenate(copies, axis=1)
    if isinstance(dataset, ConcatDataset):
        parts, offset, leaf_offset = [], 0, 0
        for sub in dataset.datasets:
            leaf, local, groups = _leaf_groups(sub)
            parts.append((leaf + leaf_offset, local,
                          np.where(groups >= 0, groups + offset, -1)))
            leaf_offset += 1 + int(leaf.max(initial=0))
            offset += len(sub)
        width = max((groups.shape[1] for _, _, groups in parts), default=1)
        padded = [np.pad(groups, ((0, 0), (0, width - groups.shape[1])),
                         constant_values=-1) for _, _, groups in parts]
        return (np.concatenate([leaf for leaf, _, _ in parts] or [np.zeros(0, int)]),
                np.concatenate([local for _, local, _ in parts] or [np.zeros(0, int)]),
                np.concatenate(padded) if padded else np.zeros((0, 1), int))
    count = len(dataset)
    return np.zeros(count, int), np.arange(count), np.arange(count)[:, None]


def _merge_same_keys(keys: List[str], groups: np.ndarray
                     ) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """(distinct keys in order of first appearance, their dataset indices, their
    distinct samples), merging the rows of ``groups`` that share a key."""
    position: dict = {}
    owner = np.array([position.setdefault(key, len(position)) for key in keys])
    order = np.argsort(owner, kind='stable')
    counts = np.bincount(owner)
    sorted_owner = owner[order]
    slot = np.arange(len(order)) - (np.cumsum(counts) - counts)[sorted_owner]
    merged = np.full((len(counts), counts.max(), groups.shape[1]), -1)
    merged[sorted_owner, slot] = groups[order]
    return list(position), merged.reshape(len(counts), -1), merged[:, :, 0]


class PoolLayout:
    """The distinct samples of a training dataset and their stable keys.

    Under ``RepeatDataset`` one sample appears at several indices and under
    ``ConcatDataset`` (VOC07+12) indices run across the parts; the pool counts each
    sample once and remembers every dataset index that shows it. Keys from
    ``sample_idx`` need no data-info reads, so a million-sample pool lays out in
    well under a second.

    Args:
        dataset: The built training dataset.
        key_field (str, optional): The data-info field that identifies a sample.
            Defaults to the first of ``KEY_FIELDS`` present.
        key_root (str, optional): Keys are paths relative to this folder (with
            ``key_field='img_path'``: images keyed by where they are, so a pool
            that grows keeps its keys).
        merge_same_keys (bool): Samples that share a key become one pool sample
            (top-down pose keyed by image: the people of one image are labeled
            together). Otherwise shared keys are an error.
    """

    def __init__(self, dataset, key_field: Optional[str] = None,
                 key_root: Optional[str] = None, merge_same_keys: bool = False):
        leaf, local, self.groups = _leaf_groups(dataset)
        if not len(self.groups):
            raise ValueError('The training dataset is empty: check data_root and '
                             'ann_file of train_dataloader.dataset')
        self.first_indices: np.ndarray = self.groups[:, 0]
        self.dataset_length = len(dataset)
        first_info = dataset.get_data_info(int(self.first_indices[0]))
        if key_field is None:
            key_field = next((f for f in KEY_FIELDS if f in first_info), None)
        elif key_field not in first_info:
            raise KeyError(f'key_field={key_field!r} is not in the data info of the '
                           f'training samples; available: {sorted(first_info)}')
        self.key_field = key_field
        if key_field in (None, 'sample_idx'):
            # mmengine's sample_idx is the index within the leaf dataset.
            keys = local.astype(str).tolist()
        else:
            keys = [str(dataset.get_data_info(int(i))[key_field])
                    for i in self.first_indices]
        if key_root is not None:
            keys = [osp.relpath(key, key_root).replace(os.sep, '/') for key in keys]
        # The distinct dataset samples of each pool sample, padded with -1.
        self.instances: np.ndarray = self.first_indices[:, None]
        if merge_same_keys:
            keys, self.groups, self.instances = _merge_same_keys(keys, self.groups)
            self.first_indices = self.groups[:, 0]
        self.position = dict(zip(keys, range(len(keys))))
        if len(self.position) != len(keys) and leaf.max() > 0:
            # Per-part ids (sample_idx under ConcatDataset) repeat: qualify them.
            keys = [f'{part}/{key}' for part, key in zip(leaf.tolist(), keys)]
            self.position = dict(zip(keys, range(len(keys))))
        if len(self.position) != len(keys):
            duplicates = [key for key, n in Counter(keys).items() if n > 1]
            raise ValueError(f'Sample keys from field {key_field!r} are not unique '
                             f'(e.g. {duplicates[:3]}); set train_cfg.key_field')
        self.keys: List[str] = keys

    def __len__(self) -> int:
        return len(self.keys)

    def dataset_indices(self, pool_indices: Sequence[int]) -> List[int]:
        """Every dataset index that shows one of the given pool samples."""
        indices = self.groups[np.asarray(pool_indices, dtype=int)].ravel()
        return indices[indices >= 0].tolist()
