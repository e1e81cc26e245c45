"""Loss adapters for mmdet's single-stage, two-stage and DETR-family detectors.

Import it from a config (``custom_imports = dict(imports=['mmal',
'mmal.models.adapters.detection'])``); it also makes mmdet's ``SSDHead`` predict
(see :mod:`mmal.models.adapters.ssd_compat`).
"""
import inspect
from contextlib import ExitStack

import torch
import torch.nn as nn
from mmdet.models.dense_heads import CenterNetHead, YOLOV3Head
from mmdet.models.utils import unpack_gt_instances
from mmdet.structures.bbox import bbox2roi

from mmal.registry import LOSS_ADAPTERS
from . import posteriors
from .base import (BaseLossAdapter, loss_with_one_call, plain_call, record_calls,
                   record_method, select_sample)
from .replay import IsolatedReplays
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
    classes and background; per-class sigmoids for sigmoid heads; objectness and
    class sigmoids for YOLOv3; CenterNet's sigmoid heatmaps per position, see
    :func:`dense_posteriors`). The image's score is the highest posterior entropy
    among its ``entropy_topk`` most confident anchors (highest foreground
    probability), i.e. how unsure the detector is about its best detections.
    ``uncertainty`` (margin, least confidence) is the same with another measure of
    the same posteriors (:mod:`~mmal.models.adapters.posteriors`). ``features``:
    the last backbone output, average pooled.

    Any dense head whose ``loss_by_feat(*outs, batch_gt_instances, batch_img_metas,
    batch_gt_instances_ignore)`` takes batched outputs works the same way, but one
    that all-reduces its normaliser across GPUs (``reduce_mean``: FCOS, ATSS, GFL,
    YOLOX, RTMDet, ...) would do so once per image here, so keep such heads to one
    GPU. SSD's, RetinaNet's, YOLOv3's and CenterNet's do not. The weighted-mean
    relation to mmdet's batch loss above holds for SSD and RetinaNet, not for heads
    that sum or weight otherwise (GFL, YOLOv3).

    Args:
        entropy_topk (int): Confident anchors per image that the entropy score
            looks at. Defaults to 10.
    """

    def __init__(self, entropy_topk: int = 10):
        self.entropy_topk = entropy_topk

    def loss(self, model, inputs, data_samples):
        head = model.bbox_head
        with IsolatedReplays(model, data_samples) as replays:
            losses, (_, _, head_outs) = loss_with_one_call(
                model, inputs, data_samples, record_calls(head), type(head).__name__)
            with torch.no_grad():
                per_image = self.per_image_losses(model, head_outs,
                                                  replays.data_samples, replays)
        return losses, per_image

    @staticmethod
    def per_image_losses(model, head_outs, data_samples,
                         replays=None) -> torch.Tensor:
        """Each image's own loss from the batch's head outputs, shape (B,).

        Args:
            model: The detector.
            head_outs (tuple): ``model.bbox_head(feats)`` for the batch.
            data_samples (list[DetDataSample]): The batch's samples (as the loss
                received them: a copy, where the head converts them in place).
            replays (IsolatedReplays, optional): Runs each image's call; by default
                a plain call.
        """
        return dense_head_per_image(model, model.bbox_head, head_outs,
                                    *unpack_gt_instances(data_samples),
                                    replays=replays)

    def features(self, model, inputs, data_samples):
        last = model.backbone(inputs)
        last = last[-1] if isinstance(last, (tuple, list)) else last
        return last.flatten(2).mean(dim=2)

    def entropy(self, model, inputs, data_samples):
        return self.uncertainty(model, inputs, data_samples, posteriors.entropy)

    def uncertainty(self, model, inputs, data_samples, measure):
        head = model.bbox_head
        confidence, ent = dense_posteriors(head, head(model.extract_feat(inputs)),
                                           measure)
        return most_confident_entropy(confidence, ent, self.entropy_topk)


def most_confident_entropy(confidence, ent, topk: int) -> torch.Tensor:
    """Per image, the highest entropy among its ``topk`` most confident
    predictions; both inputs (B, N)."""
    top = confidence.topk(min(topk, confidence.shape[1]), dim=1).indices
    return ent.gather(1, top).max(dim=1).values


def dense_head_per_image(model, head, head_outs, gts, gts_ignore, metas,
                         replays=None) -> torch.Tensor:
    """Each image's summed ``head.loss_by_feat`` on its slice of the batch's head
    outputs, shape (B,); each call through ``replays`` (an
    :class:`IsolatedReplays`) when given."""
    replays = replays or plain_call
    values = []
    for index, (gt, gt_ignore, meta) in enumerate(zip(gts, gts_ignore, metas)):
        image_losses = replays(head.loss_by_feat,
            *select_sample(head_outs, index, len(gts)), [gt], [meta], [gt_ignore])
        values.append(model.parse_losses(image_losses)[0])
    return torch.stack(values).float()


def per_position(maps, channels: int) -> torch.Tensor:
    """(B, A * channels, H, W) maps of all levels as (B, positions, channels)."""
    return torch.cat([
        level.permute(0, 2, 3, 1).reshape(level.shape[0], -1, channels)
        for level in maps
    ], dim=1).float()


def dense_posteriors(head, outs, measure=posteriors.entropy):
    """Each position's (or anchor's) foreground confidence and posterior
    uncertainty (``measure``, default entropy), both (B, N), from a dense head's
    outputs.

    Class-logit heads (``cls_scores`` first): softmax over the classes and
    background (background last, as mmdet puts it) or per-class sigmoids.
    ``YOLOV3Head`` packs box, objectness and class channels per anchor: the
    objectness and the class sigmoids, confidence objectness times the top class.
    ``CenterNetHead``'s heatmaps are already per-class sigmoid probabilities.
    """
    if isinstance(head, YOLOV3Head):
        pred = per_position(outs[0], head.num_attrib)
        objectness, classes = pred[..., 4].sigmoid(), pred[..., 5:].sigmoid()
        return (objectness * classes.max(dim=2).values,
                posteriors.independent(measure, objectness[..., None]) +
                posteriors.independent(measure, classes))
    if isinstance(head, CenterNetHead):
        probs = per_position(outs[0], head.num_classes)
        return probs.max(dim=2).values, posteriors.independent(measure, probs)
    return class_posteriors(per_position(outs[0], head.cls_out_channels),
                            head.use_sigmoid_cls, measure)


def class_posteriors(logits: torch.Tensor, use_sigmoid: bool,
                     measure=posteriors.entropy):
    """Foreground confidence and posterior uncertainty (``measure``, default
    entropy), both (B, N), of class logits (B, N, C): per-class sigmoids (the
    measure of each binary posterior, summed), or a softmax over the classes and
    background (background last, as mmdet puts it)."""
    logits = logits.float()
    if use_sigmoid:
        probs = logits.sigmoid()
        return probs.max(dim=2).values, posteriors.independent(measure, probs)
    probs = logits.softmax(dim=2)
    return probs[..., :-1].max(dim=2).values, measure(probs)


@LOSS_ADAPTERS.register_module(name='TwoStageDetector')
class TwoStageDetectorLossAdapter(SingleStageDetectorLossAdapter):
    """mmdet ``TwoStageDetector`` (Faster R-CNN, Mask R-CNN, Cascade R-CNN).

    The training objective is mmdet's loss dict, unchanged. An image's target loss
    is the sum of its own terms, from the batch's forward pass: the RPN's
    ``loss_by_feat`` on its slice of the RPN outputs (class-agnostic targets, as
    mmdet gives the RPN), and for every RoI stage the bbox head's (and mask
    head's) ``loss_and_target`` on the image's sampled RoIs and their predictions,
    times the stage's ``stage_loss_weights`` (Cascade R-CNN). Each term is
    normalised by the image's own count (sampled anchors, sampled RoIs, positive
    RoIs), as mmdet normalises a batch. The RPN's anchor sampling is random: the
    repeated per-image call samples its own anchors (the same RoIs are reused).

    ``entropy``: the softmax entropy of the first RoI stage's class scores on the
    RPN proposals, the highest among the ``entropy_topk`` most confident RoIs
    (``uncertainty``: another measure of the same posteriors).
    ``features``: the last backbone output, average pooled.
    """

    def loss(self, model, inputs, data_samples):
        roi_head = model.roi_head
        bbox_heads = as_list(roi_head.bbox_head)
        mask_heads = as_list(roi_head.mask_head) if roi_head.with_mask else []
        with IsolatedReplays(model, data_samples) as replays, ExitStack() as stack:
            rpn_calls = stack.enter_context(record_calls(model.rpn_head))
            bbox_calls = [stack.enter_context(record_method(head, 'loss_and_target'))
                          for head in bbox_heads]
            mask_calls = [stack.enter_context(record_method(head, 'loss_and_target'))
                          for head in mask_heads]
            grid_head = getattr(roi_head, 'grid_head', None)  # Grid R-CNN
            grid_calls = (stack.enter_context(record_method(grid_head, 'loss'))
                          if grid_head is not None else [])
            losses = model.loss(inputs, data_samples)
            stack.close()  # the recordings end before the replays
            if len(rpn_calls) != 1:
                raise RuntimeError(f'{type(model.rpn_head).__name__} ran '
                                   f'{len(rpn_calls)} times in one loss; expected '
                                   'once')
            gts, gts_ignore, metas = unpack_gt_instances(replays.data_samples)
            # The RPN is trained class-agnostic: every box is label 0.
            rpn_gts = [class_agnostic(gt) for gt in gts]
            weights = getattr(roi_head, 'stage_loss_weights', [1.0])
            with torch.no_grad():
                per_image = dense_head_per_image(
                    model, model.rpn_head, rpn_calls[0][2], rpn_gts, gts_ignore,
                    metas, replays=replays)
                for stage, calls in enumerate(bbox_calls):
                    for arguments, _ in calls:
                        per_image += weights[stage] * self.bbox_per_image(
                            model, bbox_heads[stage], arguments, replays)
                for stage, calls in enumerate(mask_calls):
                    for arguments, _ in calls:
                        per_image += weights[stage] * self.mask_per_image(
                            model, mask_heads[stage], arguments, replays)
                for arguments, _ in grid_calls:
                    per_image += self.grid_per_image(model, grid_head, arguments,
                                                     replays)
        return losses, per_image

    @staticmethod
    def grid_per_image(model, head, arguments, replays=None) -> torch.Tensor:
        """Each image's Grid R-CNN grid loss on its own sampled positives, (B,).

        mmdet jitters the positives at random and then keeps a random subset of
        at most ``max_num_grid`` of the batch's (``sample_idx``): an image's term
        is the grid loss on its rows of that subset, given the batch's jitter.
        """
        replays = replays or plain_call
        results, sample_idx = arguments['sampling_results'], arguments['sample_idx']
        counts = torch.tensor([len(result.pos_priors) for result in results])
        # The image of each sampled row: positives are concatenated image by image.
        image_of = torch.repeat_interleave(torch.arange(len(results)), counts)
        offsets = counts.cumsum(0) - counts
        rows_image = image_of[sample_idx.cpu()]
        grid_pred = arguments['grid_pred']
        device = next(iter(grid_pred.values())).device
        values = []
        for index, result in enumerate(results):
            mine = rows_image == index
            if not mine.any():
                values.append(torch.zeros((), device=device))
                continue
            image = replays(
                head.loss, {key: value[mine.to(device)]
                            for key, value in grid_pred.items()},
                sample_idx.cpu()[mine] - offsets[index], [result],
                arguments['rcnn_train_cfg'])
            values.append(model.parse_losses(image)[0])
        return torch.stack(values).float()

    @staticmethod
    def bbox_per_image(model, head, arguments, replays=None) -> torch.Tensor:
        """Each image's bbox-head loss on its own sampled RoIs, (B,)."""
        replays = replays or plain_call
        rois, results = arguments['rois'], arguments['sampling_results']
        values = []
        for index, result in enumerate(results):
            mine = rois[:, 0] == index
            bbox_pred = arguments['bbox_pred']  # None without regression (Grid)
            image = replays(
                head.loss_and_target, arguments['cls_score'][mine],
                None if bbox_pred is None else bbox_pred[mine], rois[mine],
                [result], arguments['rcnn_train_cfg'])
            values.append(model.parse_losses(image['loss_bbox'])[0])
        return torch.stack(values).float()

    @staticmethod
    def mask_per_image(model, head, arguments, replays=None) -> torch.Tensor:
        """Each image's mask-head loss on its own positive RoIs, (B,)."""
        replays = replays or plain_call
        results = arguments['sampling_results']
        # mmdet predicts masks for the positives, image by image.
        mask_preds = arguments['mask_preds'].split(
            [len(result.pos_priors) for result in results])
        values = []
        for index, result in enumerate(results):
            image = replays(head.loss_and_target, mask_preds[index], [result],
                            [arguments['batch_gt_instances'][index]],
                            arguments['rcnn_train_cfg'])
            values.append(model.parse_losses(image['loss_mask'])[0])
        return torch.stack(values).float()

    def relation(self, model):
        return ("each image's own terms on the batch's RoIs; the RPN's and the RoI "
                "sampler's random picks are the batch's (equal to the image alone "
                'when the samplers keep every candidate)')

    def uncertainty(self, model, inputs, data_samples, measure):
        feats = model.extract_feat(inputs)
        proposals = model.rpn_head.predict(feats, data_samples, rescale=False)
        rois = bbox2roi([proposal.bboxes for proposal in proposals])
        roi_head = model.roi_head
        if hasattr(roi_head, 'num_stages'):
            cls_score = roi_head._bbox_forward(0, feats, rois)['cls_score']
        else:
            cls_score = roi_head._bbox_forward(feats, rois)['cls_score']
        probs = cls_score.float().softmax(dim=1)
        confidence = probs[:, :-1].max(dim=1).values  # background is last
        ent = measure(probs)
        scores = []
        for index in range(len(inputs)):
            mine = rois[:, 0] == index
            top = confidence[mine].topk(min(self.entropy_topk, int(mine.sum()))
                                        ).indices
            scores.append(ent[mine][top].max() if len(top) else ent.new_zeros(()))
        return torch.stack(scores)


def class_agnostic(gt_instances):
    """A copy of the ground truth with every label 0."""
    gt_instances = gt_instances.clone()
    gt_instances.labels = torch.zeros_like(gt_instances.labels)
    return gt_instances


def as_list(heads):
    """A RoI head's stage heads: a ``ModuleList`` (Cascade) or one head."""
    return list(heads) if isinstance(heads, nn.ModuleList) else [heads]


@LOSS_ADAPTERS.register_module(name='DetectionTransformer')
class DetectionTransformerLossAdapter(BaseLossAdapter):
    """mmdet ``DetectionTransformer`` (DETR, Deformable DETR, Conditional DETR,
    DAB-DETR, DINO).

    The training objective is mmdet's loss dict, unchanged. mmdet matches every
    image's queries to its boxes (Hungarian matching) and then divides the batch's
    terms by the batch's matched queries (``num_total_pos``). The target loss of an
    image is its own: the head's ``loss_by_feat`` runs again, from the same forward
    pass, on the image's slice of the decoder outputs (all decoder layers, batch
    dim 1) and, for two-stage Deformable DETR, of the encoder proposals; so the
    image has its own matching and its own normalisation, and its terms are summed
    over the decoder layers as mmdet sums them. mmdet all-reduces
    ``num_total_pos`` across GPUs (``reduce_mean``), once per image here too, which
    under several GPUs would mix the ranks' counts: keep scoring to one GPU.

    DINO: its denoising (dn) queries are drawn for the whole batch (group count
    from the batch's largest box count, random noise) and sit in front of the
    matching queries in the decoder outputs, so the image's slice holds its own dn
    queries; replayed with the batch's ``dn_meta``, its dn targets are its own
    boxes and its dn terms are normalised by its own positives. The per-image loss,
    every term, is the image's loss alone given the same dn queries (its slice of
    the batch's, the batch's attention mask; tested). With fewer boxes than the
    batch's largest count, that slice has zero-padded dn queries: mmdet makes them
    background targets (in ``dn_loss_cls``, no box terms) and they attend to the
    image's real dn queries, as in the batch. A fresh draw for the image alone
    would have its own group count and no padding, and other noise.

    ``entropy``: the class posterior of each query of the last decoder layer
    (per-class sigmoids, binary entropies summed, for focal-loss heads; softmax with
    background for DETR's cross entropy); the image's score is the highest entropy
    among its ``entropy_topk`` most confident queries (``uncertainty``: another
    measure of the same posteriors). ``features``: the last neck
    output, average pooled.

    Args:
        entropy_topk (int): Confident queries per image that the entropy score
            looks at. Defaults to 10.
    """

    def __init__(self, entropy_topk: int = 10):
        self.entropy_topk = entropy_topk

    def loss(self, model, inputs, data_samples):
        head = model.bbox_head
        with IsolatedReplays(model) as replays:
            losses, (arguments, _) = loss_with_one_call(
                model, inputs, data_samples, record_method(head, 'loss_by_feat'),
                f'{type(head).__name__}.loss_by_feat')
            batch_size = len(data_samples)
            with torch.no_grad():
                per_image = [
                    model.parse_losses(replays(
                        head.loss_by_feat,
                        **detr_image_arguments(arguments, index, batch_size)))[0]
                    for index in range(batch_size)]
        return losses, torch.stack(per_image).float()

    def relation(self, model):
        if getattr(model, 'dn_query_generator', None) is not None:
            return ("each image's loss alone given the batch's denoising queries "
                    '(its slice: group count from the batch, zero-padded queries '
                    'when it has fewer boxes than the batch\'s largest count)')
        return super().relation(model)

    def entropy(self, model, inputs, data_samples):
        return self.uncertainty(model, inputs, data_samples, posteriors.entropy)

    def uncertainty(self, model, inputs, data_samples, measure):
        head = model.bbox_head
        head_inputs = model.forward_transformer(model.extract_feat(inputs),
                                                data_samples)
        # DETR's head takes the hidden states; the others their references too.
        outs = head(**{name: head_inputs[name]
                       for name in inspect.signature(head.forward).parameters})
        confidence, ent = class_posteriors(outs[0][-1], head.loss_cls.use_sigmoid,
                                           measure)
        return most_confident_entropy(confidence, ent, self.entropy_topk)


def detr_image_arguments(arguments: dict, index: int, batch_size: int) -> dict:
    """The ``loss_by_feat`` arguments of a DETR-family head for image ``index``."""
    image = {}
    for name, value in arguments.items():
        if value is None:
            image[name] = value
        elif name.startswith('all_layers'):
            # (num_decoder_layers, B, ...): the batch is dim 1.
            image[name] = value[:, index:index + 1]
        elif name.startswith('batch_'):
            image[name] = [value[index]]
        else:  # encoder proposals (B, ...); dn_meta as it is
            image[name] = select_sample(value, index, batch_size)
    return image


@LOSS_ADAPTERS.register_module(name='SingleStageInstanceSegmentor')
class InstanceSegmentorLossAdapter(SingleStageDetectorLossAdapter):
    """mmdet ``SingleStageInstanceSegmentor`` whose loss is all in its mask head
    (SOLO, SOLOv2: no ``bbox_head``).

    The training objective is mmdet's loss dict, unchanged. An image's target loss
    is the mask head's ``loss_by_feat`` run again on the image's slice of the
    batch's outputs, with the image's ground truth as the head received it (masks
    padded to the batch's input shape): its own positives normalise its mask and
    focal terms, i.e. the image's loss alone.

    ``entropy``: each grid cell's per-class sigmoids (binary entropies summed); the
    highest among the image's ``entropy_topk`` most confident cells.
    ``features``: the last backbone output, average pooled.
    """

    def loss(self, model, inputs, data_samples):
        if model.with_bbox:
            raise NotImplementedError(
                f'{type(model).__name__} has a bbox_head feeding its mask head '
                '(CondInst, YOLACT): no per-image loss adapter for it yet')
        head = model.mask_head
        with IsolatedReplays(model) as replays:
            losses, (arguments, _) = loss_with_one_call(
                model, inputs, data_samples, record_method(head, 'loss_by_feat'),
                f'{type(head).__name__}.loss_by_feat')
            batch_size = len(data_samples)
            arguments.update(arguments.pop('kwargs', {}))
            with torch.no_grad():
                per_image = [
                    model.parse_losses(replays(
                        head.loss_by_feat,
                        **batch_image_arguments(arguments, index, batch_size)))[0]
                    for index in range(batch_size)]
        return losses, torch.stack(per_image).float()

    def entropy(self, model, inputs, data_samples):
        return self.uncertainty(model, inputs, data_samples, posteriors.entropy)

    def uncertainty(self, model, inputs, data_samples, measure):
        from mmdet.models.dense_heads import SOLOV2Head
        head = model.mask_head
        outs = head(model.extract_feat(inputs))
        if isinstance(head, SOLOV2Head):  # kernels, class logits, mask features
            probs = per_position(outs[1], head.cls_out_channels).sigmoid()
        else:  # SOLO: class scores last, sigmoids already outside training
            probs = per_position(outs[-1], head.cls_out_channels)
            probs = probs.sigmoid() if head.training else probs
        return most_confident_entropy(probs.max(dim=2).values,
                                      posteriors.independent(measure, probs),
                                      self.entropy_topk)


def batch_image_arguments(arguments: dict, index: int, batch_size: int) -> dict:
    """A head's ``loss_by_feat`` arguments for image ``index``: its slice of the
    batch-first outputs, its own entry of the ``batch_*`` lists."""
    return {name: [value[index]] if name.startswith('batch_') and value is not None
            else select_sample(value, index, batch_size)
            for name, value in arguments.items()}


@LOSS_ADAPTERS.register_module(name='SparseRCNN')
class SparseRCNNLossAdapter(BaseLossAdapter):
    """mmdet ``SparseRCNN`` (``EmbeddingRPNHead`` + ``SparseRoIHead``).

    The training objective is mmdet's loss dict, unchanged. Its learned proposals
    have no loss of their own; every stage's ``DIIHead.loss_and_target`` is
    recorded and run again on the image's rows (its ``num_proposals`` queries),
    its sampling result and its ``imgs_whwh``: the image's own Hungarian matches
    and positives normalise its terms, i.e. the image's loss alone (with dropout
    off), summed over the stages times ``stage_loss_weights``. ``DIIHead``
    all-reduces its positives across GPUs (``reduce_mean``): keep scoring to one.

    ``entropy``: the last stage's per-class sigmoids (softmax with background for
    a cross-entropy head) of each query, the highest among the image's
    ``entropy_topk`` most confident queries. ``features``: the last backbone
    output, average pooled.

    Args:
        entropy_topk (int): Confident queries per image that the entropy score
            looks at. Defaults to 10.
    """

    def __init__(self, entropy_topk: int = 10):
        self.entropy_topk = entropy_topk

    def loss(self, model, inputs, data_samples):
        roi_head = model.roi_head
        heads = as_list(roi_head.bbox_head)
        with IsolatedReplays(model) as replays:
            with ExitStack() as stack:
                calls = [stack.enter_context(record_method(head, 'loss_and_target'))
                         for head in heads]
                losses = model.loss(inputs, data_samples)
            batch_size = len(data_samples)
            per_image = inputs.new_zeros(batch_size)
            with torch.no_grad():
                for stage, stage_calls in enumerate(calls):
                    for arguments, _ in stage_calls:
                        rows = len(arguments['cls_score']) // batch_size
                        for i in range(batch_size):
                            mine = slice(i * rows, (i + 1) * rows)
                            image = replays(
                                heads[stage].loss_and_target,
                                arguments['cls_score'][mine],
                                arguments['bbox_pred'][mine],
                                [arguments['sampling_results'][i]],
                                arguments['rcnn_train_cfg'],
                                imgs_whwh=arguments['imgs_whwh'][i:i + 1],
                                concat=arguments['concat'])
                            per_image[i] += roi_head.stage_loss_weights[stage] * \
                                model.parse_losses(image['loss_bbox'])[0]
        return losses, per_image

    def features(self, model, inputs, data_samples):
        last = model.backbone(inputs)[-1]
        return last.flatten(2).mean(dim=2)

    def entropy(self, model, inputs, data_samples):
        x = model.extract_feat(inputs)
        roi_head = model.roi_head
        proposals = model.rpn_head.predict(x, data_samples)
        object_feats = torch.cat([res.pop('features')[None] for res in proposals])
        metas = [sample.metainfo for sample in data_samples]
        proposal_list = [res.bboxes for res in proposals]
        for stage in range(roi_head.num_stages):  # as SparseRoIHead.predict_bbox
            results = roi_head._bbox_forward(stage, x, bbox2roi(proposal_list),
                                             object_feats, metas)
            object_feats = results['object_feats']
            proposal_list = results['detached_proposals']
        confidence, ent = class_posteriors(
            results['cls_score'], roi_head.bbox_head[-1].loss_cls.use_sigmoid)
        return most_confident_entropy(confidence, ent, self.entropy_topk)
