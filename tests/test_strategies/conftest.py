import pytest
import torch
from mmengine.registry import MODELS, init_default_scope

from mmal.testing.tiny_runs import tiny_model


@pytest.fixture
def tiny_classifier():
    """mmpretrain's ResNet-CIFAR (narrowed), eval mode, and a batch of 6 random
    8x8 images whose data samples carry their dataset indices."""
    from mmpretrain.structures import DataSample
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(tiny_model())
    model.init_weights()
    # A head trained a little away from uniform, so posteriors differ.
    torch.nn.init.normal_(model.head.fc.weight, std=0.5)
    inputs = torch.randn(6, 3, 8, 8)
    samples = [DataSample(metainfo=dict(sample_idx=10 + i)) for i in range(6)]
    return model.eval(), inputs, samples
