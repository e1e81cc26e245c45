"""A generated VOC devkit, and mmdet's SSD300 built from mmal's detection config."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmal.testing.voc_format import write_voc

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='package')
def voc(tmp_path_factory):
    """``root`` holds ``data/VOCdevkit`` (``devkit``); ``ids`` lists each split."""
    root = tmp_path_factory.mktemp('voc')
    ids = write_voc(str(root / 'data'), num_trainval_07=3, num_test_07=1,
                    num_trainval_12=2)
    return dict(root=str(root), devkit=str(root / 'data' / 'VOCdevkit'), ids=ids)


@pytest.fixture(scope='package')
def lloss_cfg():
    """``configs/ssd_vgg16_voc_lloss.py``, its custom imports done."""
    from mmdet.utils import register_all_modules
    register_all_modules()
    return Config.fromfile(osp.join(REPO, 'configs', 'ssd_vgg16_voc_lloss.py'))


@pytest.fixture(scope='package')
def lloss_model(lloss_cfg):
    """The config's LearningLossModel around SSD300, randomly initialised (no
    pretrained VGG download in tests)."""
    from mmdet.registry import MODELS
    model_cfg = lloss_cfg.model.deepcopy()
    model_cfg.target.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model
