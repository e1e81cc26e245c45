from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.registry import MODELS

from .adapters import build_loss_adapter
from .feature_taps import FeatureTaps
from .loss_prediction_loss import LossPredictionLoss


@MODELS.register_module()
class LearningLossModel(BaseModel):
    """Wraps any mm-family model with a loss prediction module.

    ``mode='loss'`` returns the target model's own loss dict, unchanged, plus
    ``loss_lpm``: the ranking loss between the predicted losses and the per-sample
    target losses that the model's loss adapter computes from the same forward pass.
    ``'predict'`` and ``'tensor'`` are the target's own. :meth:`predict_loss` scores
    samples for the learning-loss query strategy.

    Args:
        target (dict | nn.Module): The task model, e.g. an mmpretrain
            ``ImageClassifier`` config.
        taps (Sequence[str]): Target submodules whose outputs the head reads,
            e.g. ``['backbone.layer1', 'backbone:3']`` (see :class:`FeatureTaps`).
        head (dict): The :class:`LossPredictionHead` config; ``type`` defaults to it.
            Built as ``loss_predictor`` (checkpoint keys ``loss_predictor.*``; the
            target's keys are ``target.*``).
        margin (float): Ranking margin xi. Defaults to 1.0.
        loss_weight (float): Weight lambda of ``loss_lpm``. Defaults to 1.0.
        loss_mode (str): ``'ranking'`` (paper) or ``'mse'`` (ablation).
        detach_epoch (int, optional): From this epoch of each cycle on, the head reads
            detached features (set by ``LossPredictionDetachHook``). None never
            detaches. Defaults to None.
        adapter (dict, optional): Loss adapter config; by default the adapter
            registered for the target's class.
        data_preprocessor (dict, optional): Given to the target if its config has
            none (mmengine's Runner passes a config's top-level one here). The
            wrapper always uses the target's preprocessor.
    """

    def __init__(self,
                 target: Union[dict, nn.Module],
                 taps: Sequence[str],
                 head: dict,
                 margin: float = 1.0,
                 loss_weight: float = 1.0,
                 loss_mode: str = 'ranking',
                 detach_epoch: Optional[int] = None,
                 adapter: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if isinstance(target, dict):
            # A config's top-level data_preprocessor, which mmengine's Runner
            # merges into the model config, belongs to the target.
            if data_preprocessor is not None:
                target = dict(target)
                target.setdefault('data_preprocessor', data_preprocessor)
            target = MODELS.build(target)
        super().__init__(init_cfg=init_cfg)
        self.target = target
        # One preprocessor, shared: the runner calls the wrapper's, the target's
        # own code may call its own.
        self.data_preprocessor = target.data_preprocessor
        # Built on a fork of the RNG, so that the target's init_weights draws what
        # it draws without the module: with detached features the target then
        # trains exactly as the plain model does (same seed, same weights).
        with torch.random.fork_rng(devices=[]):
            self.loss_predictor = MODELS.build(
                dict(dict(type='LossPredictionHead'), **head))
        self.loss_lpm = LossPredictionLoss(margin, loss_weight, loss_mode)
        self.adapter = build_loss_adapter(target, adapter)
        # Once, at build time: what the ranking targets are for this family.
        print_log(f'{type(self.adapter).__name__} for {type(target).__name__}: '
                  f'per-sample target loss {self.adapter.relation(target)}',
                  logger='current')
        self.taps = FeatureTaps(target, taps)
        self.detach_epoch = detach_epoch
        self.detach_features = False
        self._register_load_state_dict_pre_hook(self._accept_target_checkpoint)

    def __getattr__(self, name: str):
        # Toolbox hooks and visualizers read attributes of "the model" (dataset_meta,
        # with_neck, ...): answer them from the target.
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__.get('_modules', {})
            if 'target' in modules:
                return getattr(modules['target'], name)
            raise

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.target(inputs, data_samples, mode=mode)

    def loss(self, inputs, data_samples) -> Dict[str, torch.Tensor]:
        with self.taps.capture():
            losses, target_losses = self.adapter.loss(self.target, inputs,
                                                      data_samples)
        feats = self.taps.outputs()
        if self.detach_features:
            feats = [feat.detach() for feat in feats]
        losses['loss_lpm'] = self.loss_lpm(self.loss_predictor(feats), target_losses)
        return losses

    @torch.no_grad()
    def predict_loss(self, inputs, data_samples=None) -> torch.Tensor:
        """Predicted loss per sample, shape (B,), for already preprocessed inputs.

        Taps that the target's ``extract_feat`` (backbone, neck) reaches need only
        the inputs. Other taps run the target's ``'tensor'`` forward, which some
        models (two-stage and DETR detectors) cannot run without the samples.
        """
        extract_feat = getattr(self.target, 'extract_feat', None)
        with self.taps.capture():
            if extract_feat is not None:
                extract_feat(inputs)
            if extract_feat is None or self.taps.missing():
                self.target(inputs, data_samples, mode='tensor')
        return self.loss_predictor(self.taps.outputs())

    def _accept_target_checkpoint(self, state_dict, prefix, *args):
        """Let ``load_from`` take a checkpoint of the plain target model."""
        own_keys = (prefix + 'target.', prefix + 'loss_predictor.')
        if any(key.startswith(own_keys) for key in state_dict):
            return
        for key in [key for key in state_dict if key.startswith(prefix)]:
            state_dict[prefix + 'target.' + key[len(prefix):]] = state_dict.pop(key)
