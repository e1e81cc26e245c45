"""SSD300 predicts, and VOCMetric evaluates it, with mmal's SSDHead fix; the fix
leaves a head that mmdet has fixed alone."""
import pytest
import torch
from mmdet.evaluation import VOCMetric
from mmdet.models.dense_heads import SSDHead
from mmdet.models.losses import CrossEntropyLoss
from mmengine.dataset import pseudo_collate
from mmdet.structures.bbox import get_box_tensor
from mmengine.evaluator import Evaluator
from mmengine.structures import InstanceData

from mmal.models.adapters import ssd_compat
from mmal.testing.voc_format import voc_dataset


@pytest.fixture(scope='module')
def test07(voc, lloss_cfg):
    return voc_dataset(voc['devkit'], 'VOC2007', 'test', lloss_cfg.test_pipeline)


def voc_evaluator(dataset):
    evaluator = Evaluator(VOCMetric(metric='mAP', eval_mode='11points'))
    evaluator.dataset_meta = dataset.metainfo
    return evaluator


def test_ssd_predicts_and_voc_metric_evaluates(lloss_model, test07):
    data = pseudo_collate([test07[i] for i in range(len(test07))])
    lloss_model.eval()
    with torch.no_grad():
        outputs = lloss_model.test_step(data)
    test_cfg = lloss_model.target.bbox_head.test_cfg
    for output in outputs:
        pred = output.pred_instances
        height, width = output.ori_shape
        assert 0 < len(pred) <= test_cfg.max_per_img
        assert (pred.scores >= test_cfg.score_thr).all()
        assert (pred.labels < 20).all()
        # Clipped to the 300x300 input, then scaled back to the original size.
        assert (pred.bboxes >= 0).all()
        assert (pred.bboxes[:, 2] <= width + 1e-3).all()
        assert (pred.bboxes[:, 3] <= height + 1e-3).all()
    evaluator = voc_evaluator(test07)
    evaluator.process(outputs, data)
    metrics = evaluator.evaluate(len(test07))
    assert 0 <= metrics['pascal_voc/mAP'] <= 1

    # Ground truth as predictions scores 1: the metric reads these images right.
    for output in outputs:
        gt = output.gt_instances
        output.pred_instances = InstanceData(
            bboxes=get_box_tensor(gt.bboxes), labels=gt.labels,
            scores=torch.ones(len(gt)))
    evaluator = voc_evaluator(test07)
    evaluator.process(outputs, data)
    assert evaluator.evaluate(len(test07))['pascal_voc/mAP'] == pytest.approx(1.0)


def test_fix_is_in_place_exactly_where_mmdet_needs_it():
    assert not ssd_compat.ssd_predict_is_broken(SSDHead)
    assert ssd_compat.fix_ssd_predict(SSDHead) == ssd_compat.SSD_PREDICT_FIXED
    if ssd_compat.SSD_PREDICT_FIXED:
        # The installed SSDHead.__init__ sets no loss_cls, which prediction reads.
        head = SSDHead.__new__(SSDHead)
        SSDHead.__init__.__wrapped__(head, num_classes=1, in_channels=(1, ) * 6,
                                     anchor_generator=ssd_compat._PROBE_ANCHORS)
        assert not hasattr(head, 'loss_cls')
        with pytest.raises(AttributeError, match='loss_cls'):
            ssd_compat.probe_predict(head)


class FixedSSDHead(SSDHead):
    """SSDHead as a fixed mmdet could build it: with a real ``loss_cls`` module."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_cls = CrossEntropyLoss(use_sigmoid=False)


def test_fix_leaves_a_fixed_head_alone():
    assert ssd_compat.fix_ssd_predict(FixedSSDHead) is False
    assert not getattr(FixedSSDHead.__init__, '_mmal_ssd_fix', False)
    head = FixedSSDHead(num_classes=2, in_channels=(1, ) * 6,
                        anchor_generator=ssd_compat._PROBE_ANCHORS)
    assert isinstance(head.loss_cls, CrossEntropyLoss)
    assert dict(head.named_children())['loss_cls'] is head.loss_cls
    assert 'loss_cls' not in vars(head)
