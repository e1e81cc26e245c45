"""Loss adapter for mmdet's single-stage detectors (SSD first).

Import it from a config (``custom_imports = dict(imports=['mmal',
'mmal.models.adapters.detection'])``); it also makes mmdet's ``SSDHead`` predict
(see :mod:`mmal.models.adapters.ssd_compat`).
"""
import torch
from mmdet.models.utils import unpack_gt_instances

from mmal.registry import LOSS_ADAPTERS
from .base import BaseLossAdapter, record_calls, select_sample
from .ssd_compat import SSD_PREDICT_FIXED  # noqa: F401  (applies the fix)


@LOSS_ADAPTERS.register_module(name='SingleStageDetector')
class SingleStageDetectorLossAdapter(BaseLossAdapter):
    """mmdet ``SingleStageDetector`` (SSD; RetinaNet-style dense heads alike).

    The training objective is mmdet's own loss dict, unchanged. mmdet divides every
    image's loss by the positives of the whole batch (SSD: the batch's matched
    anchors), so an image's share depends on its batch mates. The target loss of
    an image is instead its own: the head's ``loss_by_feat`` is run again on that
    image alone, from the same forward pass, and its terms summed as mmdet sums them
    (for SSD: cross entropy over the positives and the hard negatives that
    ``neg_pos_ratio`` mining keeps, plus smooth L1 box regression, divided by the
    image's own positives). mmdet counts at least one positive per image, so with
    ``n_i = max(positives_i, 1)``, ``sum_i n_i * loss_i / sum_i n_i`` is mmdet's
    batch loss, and an SSD image without positives (no boxes, or only
    ``difficult`` ones) has no mined negatives either and target loss 0, not NaN.

    ``entropy``: each anchor's box comes with a class posterior (softmax over the
    classes and background; per-class sigmoids for sigmoid heads). The image's
    score is the highest posterior entropy among its ``entropy_topk`` most confident
    anchors (highest foreground probability), i.e. how unsure the detector is about
    its best detections. ``features``: the last backbone output, average pooled.

    Any dense head whose ``loss_by_feat(*outs, batch_gt_instances, batch_img_metas,
    batch_gt_instances_ignore)`` takes batched outputs works the same way, but one
    that all-reduces its normaliser across GPUs (FCOS, ATSS) would do so once per
    image here, so keep such heads to one GPU. SSD's and RetinaNet's do not.

    Args:
        entropy_topk (int): Confident anchors per image that the entropy score
            looks at. Defaults to 10.
    """

    def __init__(self, entropy_topk: int = 10):
        self.entropy_topk = entropy_topk

    def loss(self, model, inputs, data_samples):
        head = model.bbox_head
        with record_calls(head) as calls:
            losses = model.loss(inputs, data_samples)
        if len(calls) != 1:
            raise RuntimeError(f'{type(head).__name__} ran {len(calls)} times in '
                               'one loss; expected once')
        with torch.no_grad():
            head_outs = calls[0][2]
            per_image = self.per_image_losses(model, head_outs, data_samples)
        return losses, per_image

    @staticmethod
    def per_image_losses(model, head_outs, data_samples) -> torch.Tensor:
        """Each image's own loss from the batch's head outputs, shape (B,).

        Args:
            model: The detector.
            head_outs (tuple): ``model.bbox_head(feats)`` for the batch.
            data_samples (list[DetDataSample]): The batch's samples.
        """
        gts, gts_ignore, metas = unpack_gt_instances(data_samples)
        values = []
        for index, (gt, gt_ignore, meta) in enumerate(zip(gts, gts_ignore, metas)):
            image_losses = model.bbox_head.loss_by_feat(
                *select_sample(head_outs, index, len(gts)), [gt], [meta],
                [gt_ignore])
            values.append(model.parse_losses(image_losses)[0])
        return torch.stack(values).float()

    def features(self, model, inputs, data_samples):
        last = model.backbone(inputs)
        last = last[-1] if isinstance(last, (tuple, list)) else last
        return last.flatten(2).mean(dim=2)

    def entropy(self, model, inputs, data_samples):
        head = model.bbox_head
        cls_scores = head(model.extract_feat(inputs))[0]
        num_images, channels = len(inputs), head.cls_out_channels
        logits = torch.cat([
            score.permute(0, 2, 3, 1).reshape(num_images, -1, channels)
            for score in cls_scores
        ], dim=1).float()
        if head.use_sigmoid_cls:
            probs = logits.sigmoid()
            confidence = probs.max(dim=2).values
            ent = -(probs * probs.clamp_min(1e-12).log() +
                    (1 - probs) * (1 - probs).clamp_min(1e-12).log()).sum(dim=2)
        else:
            # mmdet puts background last.
            probs = logits.softmax(dim=2)
            confidence = probs[..., :-1].max(dim=2).values
            ent = -(probs * probs.clamp_min(1e-12).log()).sum(dim=2)
        topk = confidence.topk(min(self.entropy_topk, confidence.shape[1]),
                               dim=1).indices
        return ent.gather(1, topk).max(dim=1).values

