"""CIFAR-10 batch files generated on the fly, read by mmpretrain's own ``CIFAR10``.

``UncheckedCIFAR10`` is the test-only subclass that skips the md5 check (generated
batches cannot match the real files' checksums, and the real class would then try
to download). Import this module (``custom_imports``) to register it.
"""
import os
import os.path as osp
import pickle

import numpy as np
from mmengine.fileio import exists, join_path
from mmpretrain.datasets import CIFAR10
from mmpretrain.registry import DATASETS

CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse',
           'ship', 'truck')


@DATASETS.register_module()
class UncheckedCIFAR10(CIFAR10):
    """mmpretrain's CIFAR10 that checks the batch files exist, not their md5."""

    def _check_integrity(self):
        root = self.data_prefix['root']
        return all(
            exists(join_path(root, self.base_folder, name))
            for name, _ in self.train_list + self.test_list)


def class_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """32x32 RGB images whose class shows as a colour and a stripe position, with
    noise: learnable in a few steps, not trivially."""
    images = rng.integers(0, 96, size=(len(labels), 32, 32, 3)).astype(np.int32)
    for i, label in enumerate(labels):
        images[i, :, :, label % 3] += 80 + 10 * label
        images[i, 3 * label:3 * label + 3, :, :] += 60
    return np.clip(images, 0, 255).astype(np.uint8)


def write_cifar10(root: str, num_train: int, num_test: int, seed: int = 0) -> str:
    """Write ``root/cifar-10-batches-py`` in the real on-disk format."""
    rng = np.random.default_rng(seed)
    folder = osp.join(root, 'cifar-10-batches-py')
    os.makedirs(folder, exist_ok=True)

    def dump(name, labels):
        images = class_images(labels, rng)
        data = images.transpose(0, 3, 1, 2).reshape(len(labels), -1)
        with open(osp.join(folder, name), 'wb') as f:
            pickle.dump({'data': data, 'labels': labels.tolist()}, f)

    train_labels = rng.integers(0, 10, size=num_train)
    for part, labels in enumerate(np.array_split(train_labels, 5), start=1):
        dump(f'data_batch_{part}', labels)
    dump('test_batch', rng.integers(0, 10, size=num_test))
    with open(osp.join(folder, 'batches.meta'), 'wb') as f:
        pickle.dump({'label_names': list(CLASSES)}, f)
    return root
