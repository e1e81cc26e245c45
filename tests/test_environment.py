"""The pinned toolbox stack works here, compiled ops included, and ``import mmal``
registers its parts for every toolbox without importing mmdet or mmpose."""
import importlib
import subprocess
import sys

import pytest
import torch


@pytest.mark.parametrize('module', [
    'mmdet.models', 'mmdet.datasets', 'mmdet.evaluation', 'mmpose.models',
    'mmpose.datasets', 'mmpose.evaluation', 'mmpretrain.models',
    'mmpretrain.datasets'
])
def test_toolbox_modules_import(module):
    assert importlib.import_module(module) is not None


def test_compiled_ops_run():
    from mmcv.ops import batched_nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [0., 0., 10., 10.], [50., 50., 60., 60.]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    classes = torch.tensor([0, 0, 1, 0])
    dets, keep = batched_nms(boxes, scores, classes,
                             dict(type='nms', iou_threshold=0.5))
    # Box 1 overlaps box 0 of the same class; box 2 has another class.
    assert keep.tolist() == [0, 2, 3]
    assert dets.shape == (3, 5)


def test_import_mmal_does_not_import_detection_or_pose():
    code = ('import sys, mmal; '
            'print(sorted(m for m in ("mmdet", "mmpose") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == '[]'


@pytest.mark.parametrize('scope', ['mmdet', 'mmpose', 'mmpretrain'])
def test_components_found_from_every_toolbox_scope(scope):
    import mmal  # noqa: F401
    registry = importlib.import_module(f'{scope}.registry')
    assert registry.MODELS.get('LearningLossModel').__name__ == 'LearningLossModel'
    assert registry.MODELS.get('LossPredictionHead') is not None
    assert registry.LOOPS.get('ActiveLearningLoop') is not None
    assert registry.HOOKS.get('LossPredictionDetachHook') is not None
    assert registry.DATA_SAMPLERS.get('LabeledSubsetSampler') is not None
