import torch
import torch.nn as nn

from mmal.registry import LOSS_ADAPTERS
from . import posteriors
from .base import BaseLossAdapter, loss_with_one_call, record_calls
from .mc_dropout import (SeededDropoutPasses, dropout_layers, dropout_masks,
                         sample_indices)
from .multi_label import is_multi_label
from .replay import IsolatedReplays


@LOSS_ADAPTERS.register_module(name='ImageClassifier')
class ClassificationLossAdapter(BaseLossAdapter):
    """mmpretrain ``ImageClassifier`` with a ``ClsHead``-style head.

    The head's own ``loss_module`` is called again on the recorded arguments with
    ``reduction_override='none'``, so label smoothing, soft (mixup) targets and class
    weights apply to the per-sample losses exactly as to the batch loss.

    Uncertainty measures (entropy, margin, least confidence) read the softmax of
    the class scores. ``gradient_embedding`` (BADGE) is the gradient of the cross
    entropy at the predicted label with respect to the last linear layer's weights,
    in closed form: ``(p - onehot(argmax p))`` outer the layer's input
    (``pre_logits``). ``mc_probabilities`` (BALD) runs the model's own dropout
    layers always-on; a model without any gets dropout (``head_dropout``) on the
    head's input at scoring time only (as baal's ``patch_module`` would add), so
    the backbone runs once and only the head T times. Masks are seeded per sample
    (:mod:`~mmal.models.adapters.mc_dropout`).

    Multi-label heads (``MultiLabelClsHead``, ``CSRAClsHead``): the per-class
    losses of a sample are summed, which is the sample's loss alone (mmpretrain
    divides the batch's sum by the batch size), and every uncertainty measure is applied to each label's binary
    posterior and summed (entropy: the sum of the per-label binary entropies).
    """

    def loss(self, model, inputs, data_samples):
        loss_module = model.head.loss_module
        with IsolatedReplays(model) as replays:
            losses, (args, kwargs, _) = loss_with_one_call(
                model, inputs, data_samples, record_calls(loss_module),
                f'{type(model.head).__name__}.loss_module')
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
        return self.uncertainty(model, inputs, data_samples, posteriors.entropy)

    def uncertainty(self, model, inputs, data_samples, measure):
        cls_score = model.head(model.extract_feat(inputs))
        if is_multi_label(model.head):
            return posteriors.independent(measure, cls_score.sigmoid())
        return measure(cls_score.softmax(dim=1))

    def gradient_embedding(self, model, inputs, data_samples):
        refuse_multi_label(model.head, 'BADGEStrategy')
        feats = model.extract_feat(inputs)
        pre_logits = model.head.pre_logits(feats)
        last = last_linear(model.head)
        if pre_logits.dim() != 2 or last.in_features != pre_logits.shape[1]:
            raise NotImplementedError(
                f'{type(model.head).__name__} does not end in a linear layer on its '
                'pre_logits, so BADGEStrategy has no closed-form gradient '
                'embedding for it; use CoreSetStrategy for a diverse query instead')
        probs = last(pre_logits).float().softmax(dim=1)
        residual = probs - nn.functional.one_hot(probs.argmax(dim=1),
                                                 probs.shape[1]).float()
        return (residual[:, :, None] * pre_logits.float()[:, None, :]).flatten(1)

    def mc_probabilities(self, model, inputs, data_samples, passes, seed,
                         head_dropout=0.5):
        refuse_multi_label(model.head, 'BALDStrategy')
        indices = sample_indices(data_samples)
        layers = dropout_layers(model)
        probs = []
        if layers:
            with SeededDropoutPasses(layers, indices, seed, passes) as dropout:
                for sample_pass in range(passes):
                    dropout.set_pass(sample_pass)
                    probs.append(model.head(model.extract_feat(inputs)))
        else:
            feats = model.extract_feat(inputs)
            masks = dropout_masks(feats[-1].shape[1:], head_dropout, indices,
                                  seed, passes).to(feats[-1])
            for sample_pass in range(passes):
                dropped = feats[-1] * masks[:, sample_pass]
                probs.append(model.head(tuple(feats[:-1]) + (dropped, )))
        return torch.stack(probs, dim=1).float().softmax(dim=2)


def refuse_multi_label(head: nn.Module, strategy: str) -> None:
    # Both are defined on one softmax over the classes; independent sigmoids
    # would need their own derivation.
    if is_multi_label(head):
        raise NotImplementedError(
            f'{strategy} is defined for a softmax head; {type(head).__name__} '
            'scores each label with its own sigmoid. Use EntropyStrategy, '
            'MarginStrategy or LeastConfidenceStrategy (per-label binary '
            'posteriors) or CoreSetStrategy instead')


def last_linear(head: nn.Module) -> nn.Linear:
    """The head's last ``nn.Linear`` (the layer producing the class scores)."""
    linears = [module for module in head.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise NotImplementedError(
            f'{type(head).__name__} has no linear layer, so BADGEStrategy has no '
            'closed-form gradient embedding for it; use CoreSetStrategy instead')
    return linears[-1]
