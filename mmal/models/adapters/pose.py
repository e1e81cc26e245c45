"""Per-sample target losses, entropy and features for mmpose's top-down and bottom-up
estimators.

Imported by the pose configs (``custom_imports``), never by ``import mmal``.
"""
import math
from contextlib import ExitStack
from typing import List

import torch
import torch.nn as nn

from mmal.registry import LOSS_ADAPTERS
from .base import (BaseLossAdapter, loss_with_one_call, plain_call, record_calls,
                   record_method, select_sample)
from .replay import IsolatedReplays


def head_loss_modules(head: nn.Module) -> List[nn.Module]:
    """The distinct loss modules of an mmpose head: one shared by all stages, one
    per stage (``loss=[...]`` gives an ``nn.ModuleList``), or one per loss term
    (``DEKRHead``'s ``nn.ModuleDict`` of heatmap and displacement losses)."""
    loss_module = getattr(head, 'loss_module', None)
    if loss_module is None:
        raise TypeError(f'{type(head).__name__} has no loss_module; the pose loss '
                        'adapter serves heatmap heads such as HeatmapHead and '
                        'CPMHead')
    if isinstance(loss_module, nn.ModuleList):
        modules = list(loss_module)
    elif isinstance(loss_module, nn.ModuleDict):
        modules = list(loss_module.values())
    else:
        modules = [loss_module]
    unique = []
    for module in modules:
        # A module listed twice would record its calls twice.
        if all(module is not seen for seen in unique):
            unique.append(module)
    return unique


@LOSS_ADAPTERS.register_module(name='TopdownPoseEstimator')
class TopdownHeatmapLossAdapter(BaseLossAdapter):
    """mmpose ``TopdownPoseEstimator`` with a heatmap head (``HeatmapHead``,
    ``CPMHead`` with several stages, ...).

    The head's loss modules are recorded while the model computes its own loss, and
    every recorded call (one per supervised stage) is repeated on each sample's slice
    of its arguments. A sample's target loss is the sum over those calls, as
    ``loss_kpt`` sums the stages; a ``MultipleLossWrapper`` (DSNT's coordinate and
    heatmap terms) gives a list, summed as the head sums it. For the mean-reduced ``KeypointMSELoss`` the batch
    mean of the per-sample losses is ``loss_kpt``, target weights included, and a
    sample without a visible joint gets 0.

    ``entropy`` depends on what the head predicts, averaged over the keypoints:
    heatmaps (``HeatmapHead``, ``CPMHead``'s last stage): the entropy of each
    heatmap's softmax over its pixels; integral regression (``DSNTHead``,
    ``IntegralRegressionHead``): the entropy of its normalised heatmaps as they
    are; SimCC (``SimCCHead``, ``RTMCCHead``): the
    entropy of the x distribution plus that of the y distribution; RLE
    (``RLEHead``): the entropy of the predicted x and y error densities, from the
    predicted sigma (Laplace ``1 + log(2 sigma)`` per coordinate, Gaussian
    ``log(sigma) + log(2 pi e) / 2`` with ``q_distribution='gaussian'``). Plain
    coordinate regression predicts no distribution and has no entropy.

    ``features``: the last backbone output, average pooled; for a backbone that
    outputs heatmaps and names its per-stack features ``feature_layers``
    (``NewellHourglassNet``), the last of those instead.
    """

    def loss(self, model, inputs, data_samples):
        modules = head_loss_modules(model.head)
        with IsolatedReplays(model) as replays:
            with ExitStack() as stack:
                records = [stack.enter_context(record_calls(module))
                           for module in modules]
                losses = model.loss(inputs, data_samples)
            calls = [(module, call) for module, record in zip(modules, records)
                     for call in record]
            if not calls:
                raise RuntimeError(f'{type(model.head).__name__}.loss did not call '
                                   'its loss_module; cannot compute per-sample '
                                   'losses')
            batch_size = inputs.shape[0]
            per_sample = inputs.new_zeros(batch_size)
            for module, (args, kwargs, _) in calls:
                per_sample += per_sample_calls(module, args, kwargs, batch_size,
                                               replays)
        return losses, per_sample

    def features(self, model, inputs, data_samples):
        layers = getattr(model.backbone, 'feature_layers', None)
        if layers is None:
            return super().features(model, inputs, data_samples)
        with record_calls(layers[-1]) as calls:
            model.extract_feat(inputs)
        return calls[-1][2].flatten(2).mean(dim=2)

    def entropy(self, model, inputs, data_samples):
        from mmpose.models.heads import IntegralRegressionHead
        outs = model.head(model.extract_feat(inputs))
        if isinstance(model.head, IntegralRegressionHead):
            # Coordinates and the heatmaps they are the expectation of, already
            # normalised (a spatial softmax): no second softmax.
            heatmaps = outs[1].flatten(2).float()
            return torch.special.entr(heatmaps).sum(dim=2).mean(dim=1)
        if isinstance(outs, (list, tuple)) and outs[-1].dim() == 4:
            outs = outs[-1]  # the last stage of a multi-stage heatmap head
        if isinstance(outs, torch.Tensor) and outs.dim() == 4:
            return distribution_entropy(outs.flatten(2)).mean(dim=1)
        if isinstance(outs, tuple) and len(outs) == 2 and outs[0].dim() == 3:
            simcc_x, simcc_y = outs
            return (distribution_entropy(simcc_x) +
                    distribution_entropy(simcc_y)).mean(dim=1)
        if isinstance(outs, torch.Tensor) and outs.dim() == 3 and outs.shape[2] == 4:
            return error_density_entropy(outs[..., 2:4], model.head.loss_module)
        raise NotImplementedError(
            f'{type(model.head).__name__} predicts no keypoint distribution '
            '(heatmaps, SimCC vectors or RLE sigmas); entropy is not defined')


@torch.no_grad()  # ranking targets are detached anyway: no graph for the repeats
def per_sample_calls(module: nn.Module, args, kwargs, batch_size: int,
                     replays=None) -> torch.Tensor:
    """``module`` called again on each sample's slice of its batch-first
    arguments: the per-sample values (B,); each call through ``replays`` (an
    :class:`IsolatedReplays`) when given."""
    replays = replays or plain_call
    values = []
    for i in range(batch_size):
        value = replays(module,
                        *(select_sample(arg, i, batch_size) for arg in args),
                        **{key: select_sample(arg, i, batch_size)
                           for key, arg in kwargs.items()})
        if isinstance(value, (list, tuple)):
            # MultipleLossWrapper (integral regression): one loss per term, which
            # the head adds up.
            value = sum(term.sum() for term in value)
        if value.numel() != 1:
            raise RuntimeError(
                f'{type(module).__name__} returned shape {tuple(value.shape)} for '
                'one sample; the pose loss adapter needs losses that reduce to a '
                'scalar')
        values.append(value.reshape(()))
    return torch.stack(values)


def distribution_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of ``softmax(logits)`` over the last dimension, (B, K)."""
    log_probs = logits.float().log_softmax(dim=-1)
    return -(log_probs.exp() * log_probs).sum(dim=-1)


def error_density_entropy(raw_sigma: torch.Tensor, loss_module) -> torch.Tensor:
    """Per-sample entropy (B,) of RLE's x/y error densities, summed over x and y and
    averaged over keypoints; ``RLELoss`` reads the raw output through a sigmoid."""
    log_sigma = torch.nn.functional.logsigmoid(raw_sigma.float())
    if getattr(loss_module, 'q_distribution', 'laplace') == 'gaussian':
        per_coordinate = log_sigma + 0.5 * math.log(2 * math.pi * math.e)
    else:
        per_coordinate = log_sigma + 1 + math.log(2)
    return per_coordinate.sum(dim=2).mean(dim=1)


@LOSS_ADAPTERS.register_module(name='BottomupPoseEstimator')
class BottomupPoseLossAdapter(TopdownHeatmapLossAdapter):
    """mmpose ``BottomupPoseEstimator`` with ``DEKRHead``,
    ``AssociativeEmbeddingHead``, ``CIDHead``, ``YOLOXPoseHead`` or ``RTMOHead``.

    YOLOX-Pose and RTMO: see :meth:`head_loss_per_image`; their entropy is that of
    the person sigmoids (and YOLOX-Pose's objectness) of each prior, the highest
    among the image's ``entropy_topk`` most confident priors.

    DEKR's target loss: as for top-down, each recorded loss-module call (heatmap
    and displacement) is repeated on the sample's slice and the terms are summed,
    so a sample's target loss is its own loss computed alone. ``KeypointMSELoss``
    takes a mean, so the batch's ``loss/heatmap`` is the mean of the per-sample
    terms. ``SoftWeightSmoothL1Loss`` with ``supervise_empty=False`` (DEKR's
    setting) divides by the number of supervised displacement entries in the whole
    batch; the per-sample term divides by the sample's own count instead (the batch
    term is the count-weighted mean of the per-sample terms).

    Associative embedding: see :meth:`associative_embedding_loss`; CID: see
    :meth:`cid_loss`.

    ``entropy``: the spatial softmax entropy of the top-down adapter on the head's
    keypoint heatmaps (the first ``num_keypoints`` channels; DEKR's root heatmap
    and AE's tag maps are left out), averaged over keypoints. A bottom-up heatmap
    has a peak per person, so several people spread it as uncertainty does.
    CID's keypoint heatmaps are per-pixel sigmoids: normalised over their pixels,
    not softmaxed.

    ``features``: the last output of ``extract_feat``, average pooled (for DEKR the
    neck's concatenation of all HRNet branches, for AE HRNet's highest-resolution
    branch).

    Args:
        entropy_topk (int): Confident priors per image that the YOLOX-Pose and
            RTMO entropy looks at. Defaults to 10.
    """

    def __init__(self, entropy_topk: int = 10):
        self.entropy_topk = entropy_topk

    def relation(self, model):
        from mmpose.models.heads import AssociativeEmbeddingHead, CIDHead
        if isinstance(model.head, AssociativeEmbeddingHead):
            return ("each image's heatmap and tag terms alone, the heatmap term "
                    "weighting keypoint k by the largest of its people's weights "
                    "(mmpose's own loss with one person per image)")
        if isinstance(model.head, CIDHead):
            max_people = (model.train_cfg or {}).get('max_train_instances', -1)
            return ('exact, unless an image alone holds more than '
                    f'max_train_instances={max_people} people (mmpose then keeps '
                    'a random subset)')
        return super().relation(model)

    def loss(self, model, inputs, data_samples):
        from mmpose.models.heads import AssociativeEmbeddingHead, CIDHead
        if isinstance(model.head, AssociativeEmbeddingHead):
            return self.associative_embedding_loss(model, inputs, data_samples)
        if isinstance(model.head, CIDHead):
            return self.cid_loss(model, inputs, data_samples)
        if is_one_stage_pose_head(model.head):
            return self.head_loss_per_image(model, inputs, data_samples)
        return super().loss(model, inputs, data_samples)

    @staticmethod
    def head_loss_per_image(model, inputs, data_samples):
        """The head's own ``loss`` again on each image's slice of its input
        features with the image's sample: for one-stage heads with their own
        assigner and several terms (``YOLOXPoseHead``, ``RTMOHead``), whose loss
        computes predictions, targets and normalisers in one method. The image's
        head forward runs alone too, so every term is the image's loss alone.
        """
        head = model.head
        with IsolatedReplays(model) as replays:
            losses, (arguments, _) = loss_with_one_call(
                model, inputs, data_samples, record_method(head, 'loss'),
                f'{type(head).__name__}.loss')
            batch_size = inputs.shape[0]
            with torch.no_grad():
                per_sample = torch.stack([
                    model.parse_losses(replays(
                        head.loss, select_sample(arguments['feats'], i, batch_size),
                        arguments['batch_data_samples'][i:i + 1],
                        arguments['train_cfg']))[0]
                    for i in range(batch_size)])
        return losses, per_sample.float()

    @staticmethod
    def cid_loss(model, inputs, data_samples):
        """``CIDHead.loss``, mmpose's own, and each image's terms alone.

        CID's coupled heatmap loss has a row per image, its decoupled heatmap loss a
        row per person (of all images, at most ``max_train_instances``, a random
        subset beyond), and its contrastive loss is called per image and divided by
        the batch's people. An image's target loss is its coupled term (its slice),
        its decoupled term on its own people's rows (read from the image ids that
        the head gives its ``gfd_module``) and its contrastive term divided by its
        own people: the image's loss alone, unless the image alone holds more than
        ``max_train_instances`` people.
        """
        head = model.head
        terms = head.loss_module
        with IsolatedReplays(model, data_samples) as replays:
            with ExitStack() as stack:
                coupled, decoupled, contrastive, gfd = (
                    stack.enter_context(record_calls(module)) for module in (
                        terms['heatmap_coupled'], terms['heatmap_decoupled'],
                        terms['contrastive'], head.gfd_module))
                losses = model.loss(inputs, data_samples)
            batch_size = inputs.shape[0]
            with torch.no_grad():
                args, kwargs, _ = coupled[0]
                per_sample = per_sample_calls(terms['heatmap_coupled'], args,
                                              kwargs, batch_size, replays)
                people = [len(sample.gt_instance_labels.instance_coords)
                          for sample in replays.data_samples]
                # The contrastive term: one call per image, in image order.
                for i, (args, kwargs, _) in enumerate(contrastive):
                    if people[i]:
                        per_sample[i] += replays(terms['contrastive'], *args,
                                                 **kwargs) / people[i]
                if decoupled:  # only with people in the batch
                    image_ids = gfd[-1][0][3]
                    args, kwargs, _ = decoupled[0]
                    for i in range(batch_size):
                        mine = image_ids == i
                        if mine.any():
                            per_sample[i] += replays(
                                terms['heatmap_decoupled'],
                                *(arg[mine] for arg in args), **kwargs)
        return losses, per_sample

    @staticmethod
    def associative_embedding_loss(model, inputs, data_samples):
        """``AssociativeEmbeddingHead.loss`` with one keypoint weight per image and
        keypoint, and each image's terms alone.

        mmpose 1.3's head concatenates the per-person keypoint weights (people x K)
        where its ``KeypointMSELoss`` needs one row per image (B x K), so it fails
        unless every image holds exactly one person. Here an image's weight for
        keypoint k is its largest over the image's people (1 when anyone's keypoint
        k is labelled and inside the heatmap); with one person per image that is
        mmpose's weight, and the loss dict is mmpose's. A sample's target loss is
        its heatmap term plus its tag pull and push terms, mmpose's loss modules
        run on the image alone (pull divided by its people, push by its pairs).
        The batch's ``loss_kpt`` is the mean of the per-image heatmap terms;
        ``AssociativeEmbeddingLoss`` sums its images, so ``loss_pull + loss_push``
        is the sum of the per-image tag terms.

        The samples need ``gt_instance_labels.keypoint_indices``, which the AE
        codec encodes but ``PackPoseInputs`` packs only after mmal's
        ``PackKeypointIndices`` (:mod:`mmal.datasets.pose_transforms`).
        """
        head = model.head
        heatmaps, tags = head.forward(model.extract_feat(inputs))
        if not head.tag_per_keypoint:
            tags = tags.repeat((1, head.num_keypoints, 1, 1))
        labels = [sample.gt_instance_labels for sample in data_samples]
        if not all('keypoint_indices' in label for label in labels):
            raise KeyError(
                'AssociativeEmbeddingHead needs gt_instance_labels.keypoint_indices, '
                "which PackPoseInputs leaves out: put dict(type='PackKeypointIndices')"
                ' right before it in the training pipeline and add '
                "'mmal.datasets.pose_transforms' to custom_imports")
        indices = [label.keypoint_indices for label in labels]
        keypoint_args = (
            heatmaps,
            torch.stack([sample.gt_fields.heatmaps for sample in data_samples]),
            torch.stack([image_keypoint_weights(label.keypoint_weights,
                                                head.num_keypoints)
                         for label in labels]),
            torch.stack([sample.gt_fields.heatmap_mask
                         for sample in data_samples]))
        keypoint_loss = head.loss_module.keypoint_loss
        tag_loss = head.loss_module.tag_loss
        loss_pull, loss_push = tag_loss(tags, indices)
        losses = dict(loss_kpt=keypoint_loss(*keypoint_args), loss_pull=loss_pull,
                      loss_push=loss_push)
        batch_size = inputs.shape[0]
        per_sample = per_sample_calls(keypoint_loss, keypoint_args, {}, batch_size)
        with torch.no_grad():
            for i in range(batch_size):
                pull, push = tag_loss(tags[i:i + 1], indices[i:i + 1])
                per_sample[i] += pull + push
        return losses, per_sample

    def entropy(self, model, inputs, data_samples):
        from mmpose.models.heads import CIDHead
        head = model.head
        if isinstance(head, CIDHead):
            # CID's forward decodes one image's people; its coupled heatmaps are
            # per-pixel sigmoids: each keypoint's, normalised over its pixels.
            heatmaps = head.iia_module(model.extract_feat(inputs)[-1])
            keypoints = heatmaps[:, :head.num_keypoints].flatten(2).float()
            spatial = keypoints / keypoints.sum(dim=2, keepdim=True)
            return torch.special.entr(spatial).sum(dim=2).mean(dim=1)
        if is_one_stage_pose_head(head):
            return one_stage_pose_entropy(head, head(model.extract_feat(inputs)),
                                          self.entropy_topk)
        heatmaps = head(model.extract_feat(inputs))[0]
        keypoint_heatmaps = heatmaps[:, :head.num_keypoints]
        return distribution_entropy(keypoint_heatmaps.flatten(2)).mean(dim=1)


def is_one_stage_pose_head(head) -> bool:
    """Whether ``head`` detects people per prior with its own assigner
    (YOLOX-Pose, RTMO)."""
    from mmpose.models.heads.hybrid_heads import RTMOHead, YOLOXPoseHead
    return isinstance(head, (YOLOXPoseHead, RTMOHead))


def one_stage_pose_entropy(head, outs, topk: int) -> torch.Tensor:
    """Per image, the highest posterior entropy among its ``topk`` most
    confident priors, from per-level lists of (B, C, H, W) class logits (first
    output) and, for YOLOX-Pose, objectness logits (second): the binary entropies
    of the person sigmoid(s) summed; confidence their product."""
    from mmpose.models.heads.hybrid_heads import YOLOXPoseHead

    def flat(levels):
        return torch.cat([level.flatten(2) for level in levels], dim=2).float()

    probs = flat(outs[0]).sigmoid()  # (B, C, priors)
    confidence = probs.max(dim=1).values
    binary = torch.special.entr(probs) + torch.special.entr(1 - probs)
    ent = binary.sum(dim=1)
    if isinstance(head, YOLOXPoseHead):
        objectness = flat(outs[1]).sigmoid()[:, 0]
        confidence = confidence * objectness
        ent = ent + torch.special.entr(objectness) + torch.special.entr(1 - objectness)
    top = confidence.topk(min(topk, confidence.shape[1]), dim=1).indices
    return ent.gather(1, top).max(dim=1).values


def image_keypoint_weights(person_weights: torch.Tensor, num_keypoints: int
                           ) -> torch.Tensor:
    """One weight per keypoint (K,) for an image from its people's (N, K): the
    largest; 0 for an image without people."""
    if len(person_weights) == 0:
        return person_weights.new_zeros(num_keypoints)
    return person_weights.amax(dim=0)
