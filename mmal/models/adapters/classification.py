import torch

from mmal.registry import LOSS_ADAPTERS
from .base import BaseLossAdapter, record_calls
from .multi_label import is_multi_label, multi_label_entropy
from .replay import IsolatedReplays


@LOSS_ADAPTERS.register_module(name='ImageClassifier')
class ClassificationLossAdapter(BaseLossAdapter):
    """mmpretrain ``ImageClassifier`` with a ``ClsHead``-style head.

    The head's own ``loss_module`` is called again on the recorded arguments with
    ``reduction_override='none'``, so label smoothing, soft (mixup) targets and class
    weights apply to the per-sample losses exactly as to the batch loss.
    Multi-label heads (``MultiLabelClsHead``, ``CSRAClsHead``): the per-class
    losses of a sample are summed, which is the sample's loss alone (mmpretrain
    divides the batch's sum by the batch size), and entropy is the sum of the
    per-label binary entropies (:mod:`.multi_label`).
    """

    def loss(self, model, inputs, data_samples):
        loss_module = model.head.loss_module
        with IsolatedReplays(model) as replays:
            with record_calls(loss_module) as calls:
                losses = model.loss(inputs, data_samples)
            if len(calls) != 1:
                raise RuntimeError(f'{type(model.head).__name__}.loss_module ran '
                                   f'{len(calls)} times in one loss; expected once')
            args, kwargs, _ = calls[0]
            kwargs = {key: value for key, value in kwargs.items()
                      if key != 'avg_factor'}
            per_sample = replays(loss_module, *args, **kwargs,
                                 reduction_override='none')
        if per_sample.dim() > 1:
            per_sample = per_sample.flatten(1).sum(dim=1)
        return losses, per_sample

    def features(self, model, inputs, data_samples):
        feats = model.extract_feat(inputs, stage='pre_logits')
        # Heads that pool themselves (CSRA) hand over the unpooled map.
        return feats.flatten(2).mean(dim=2) if feats.dim() > 2 else feats

    def entropy(self, model, inputs, data_samples):
        cls_score = model.head(model.extract_feat(inputs))
        if is_multi_label(model.head):
            return multi_label_entropy(cls_score)
        probs = cls_score.softmax(dim=1)
        return -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=1)
