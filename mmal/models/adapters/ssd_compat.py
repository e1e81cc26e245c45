"""Makes mmdet's ``SSDHead`` predict, without editing mmdet.

mmdet 3.3.0's ``BaseDenseHead._predict_by_feat_single`` reads ``self.loss_cls``,
which ``SSDHead`` never sets (it skips ``AnchorHead.__init__``), so SSD inference and
evaluation fail with ``'SSDHead' object has no attribute 'loss_cls'`` (mmdet issues
#11063, #11305, #11780; the fix in PR #11524 was never released). On import, this
module checks whether the installed mmdet has the bug; only then does it give every
new ``SSDHead`` that lacks the attribute ``loss_cls = None``, which the prediction
code reads as "no custom class activation" and so applies SSD's softmax. A mmdet
that predicts correctly is left untouched.
"""
import functools

import torch
from mmdet.models.dense_heads import SSDHead
from mmengine.config import ConfigDict

# mmdet's SSD300 anchors (SSDHead's own default range is invalid for size 300).
_PROBE_ANCHORS = dict(
    type='SSDAnchorGenerator', scale_major=False, input_size=300,
    basesize_ratio_range=(0.15, 0.9), strides=[8, 16, 32, 64, 100, 300],
    ratios=[[2], [2, 3], [2, 3], [2, 3], [2], [2]])
# Keeps every box, so decoding and NMS run.
_PROBE_CFG = ConfigDict(nms_pre=10, nms=dict(type='nms', iou_threshold=0.45),
                        min_bbox_size=0, score_thr=0., max_per_img=10)


def probe_predict(head: SSDHead) -> None:
    """Decode all-zero outputs through the head's own ``predict_by_feat``."""
    cls_scores = [torch.zeros(1, n * head.cls_out_channels, 1, 1)
                  for n in head.num_base_priors]
    bbox_preds = [torch.zeros(1, n * 4, 1, 1) for n in head.num_base_priors]
    img_meta = dict(img_shape=(300, 300), ori_shape=(300, 300),
                    scale_factor=(1., 1.))
    head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=[img_meta],
                         cfg=_PROBE_CFG)


def ssd_predict_is_broken(head_cls: type = SSDHead) -> bool:
    """Whether a new ``head_cls`` fails to predict for want of ``loss_cls``.

    Args:
        head_cls (type): ``SSDHead`` or a subclass. Defaults to ``SSDHead``.
    """
    # A one-class head on one-channel inputs: cheap to build.
    head = head_cls(num_classes=1, in_channels=(1, ) * 6,
                    anchor_generator=_PROBE_ANCHORS)
    try:
        probe_predict(head)
    except AttributeError as error:
        if 'loss_cls' in str(error):
            return True
        raise
    return False


def fix_ssd_predict(head_cls: type = SSDHead) -> bool:
    """Give new ``head_cls`` instances ``loss_cls = None`` if they need it.

    Args:
        head_cls (type): ``SSDHead`` or a subclass. Defaults to ``SSDHead``.

    Returns:
        bool: Whether the fix is in place (False where the head predicts as is).
    """
    if getattr(head_cls.__init__, '_mmal_ssd_fix', False):
        return True
    if not ssd_predict_is_broken(head_cls):
        return False
    original_init = head_cls.__init__

    @functools.wraps(original_init)
    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        # An instance attribute, not a class one: a class attribute would hide a
        # ``loss_cls`` module that a subclass registers.
        if not hasattr(self, 'loss_cls'):
            self.loss_cls = None

    __init__._mmal_ssd_fix = True
    head_cls.__init__ = __init__
    return True


SSD_PREDICT_FIXED = fix_ssd_predict()
