"""Real toolbox model configs and batches for model-level tests."""
import torch
from mmengine.hub import get_config
from mmpretrain.structures import DataSample

from mmal.testing.cifar_format import class_images


def resnet18_cifar_cfg() -> dict:
    """mmpretrain's own ResNet-18-CIFAR model config."""
    cfg = get_config('mmpretrain::resnet/resnet18_8xb16_cifar10.py')
    model = cfg.model.to_dict()
    model['data_preprocessor'] = dict(cfg.data_preprocessor.to_dict(),
                                      type='ClsDataPreprocessor')
    return model


def cifar_batch(num: int, seed: int = 0) -> dict:
    """A data batch as mmpretrain's PackInputs + pseudo_collate make it."""
    import numpy as np
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=num)
    images = class_images(labels, rng)
    return dict(
        inputs=[torch.from_numpy(img).permute(2, 0, 1).contiguous() for img in images],
        data_samples=[DataSample().set_gt_label(int(label)) for label in labels])
