"""scikit-learn's 8x8 handwritten digits as an mmpretrain dataset.

A real, shipped dataset (1,797 images, 10 classes) that needs no download: the
embedded default of mmal's demo. Configs load it with
``custom_imports=dict(imports=['mmal', 'mmal.datasets.digits'])``.
"""
import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS


@DATASETS.register_module()
class DigitsDataset(BaseDataset):
    """scikit-learn's digits, split into a fixed, stratified train and test part.

    Images are 8x8, grey values 0..16 scaled to 0..255 and repeated over three
    channels, so image models and preprocessors for RGB work unchanged.

    Args:
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        test_fraction (float): Share of each class held out for test.
            Defaults to 1/3.
        split_seed (int): Seed of the train/test split. Defaults to 0.
        **kwargs: Other arguments of mmpretrain's ``BaseDataset``.
    """

    METAINFO = {'classes': tuple(str(digit) for digit in range(10))}

    def __init__(self, split: str = 'train', test_fraction: float = 1 / 3,
                 split_seed: int = 0, **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(f"DigitsDataset split must be 'train' or 'test', "
                             f'got {split!r}')
        self.split = split
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        kwargs.setdefault('ann_file', '')
        super().__init__(**kwargs)

    def load_data_list(self):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        train_idx, test_idx = train_test_split(
            np.arange(len(digits.target)), test_size=self.test_fraction,
            stratify=digits.target, random_state=self.split_seed)
        indices = np.sort(train_idx if self.split == 'train' else test_idx)
        images = np.round(digits.images * (255 / 16)).astype(np.uint8)
        return [
            dict(img=np.repeat(images[i][:, :, None], 3, axis=2),
                 gt_label=int(digits.target[i]), digit_id=int(i))
            for i in indices
        ]
