from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.registry import MODELS


@MODELS.register_module()
class LossPredictionHead(BaseModule):
    """The loss prediction module of Yoo & Kweon (CVPR 2019).

    Each tapped feature map goes through global average pooling, a linear layer and
    ReLU; the per-level vectors are concatenated and a last linear layer predicts one
    scalar loss per sample.

    Args:
        in_channels (Sequence[int]): Channels of each tapped feature, in tap order.
        mid_channels (int): Width of each per-level branch. Defaults to 128.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 mid_channels: int = 128,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        if not self.in_channels:
            raise ValueError('LossPredictionHead needs at least one input level')
        self.branches = nn.ModuleList(
            nn.Linear(channels, mid_channels) for channels in self.in_channels)
        self.fc = nn.Linear(mid_channels * len(self.in_channels), 1)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Predict losses from the tapped features; returns shape (B,).

        A feature is a (B, C) vector, a (B, C, ...) map (averaged over its
        positions), or a (B, tokens, C) sequence from a transformer block (averaged
        over its tokens). A 3-D feature is read as a sequence when its last
        dimension is the level's ``in_channels``.
        """
        if len(feats) != len(self.branches):
            raise ValueError(f'LossPredictionHead expects {len(self.branches)} '
                             f'features (in_channels={self.in_channels}), got '
                             f'{len(feats)}')
        embeddings = []
        for level, (feat, branch) in enumerate(zip(feats, self.branches)):
            embeddings.append(F.relu(branch(pool(feat, branch.in_features, level))))
        return self.fc(torch.cat(embeddings, dim=1)).squeeze(1)


def pool(feat: torch.Tensor, channels: int, level: int) -> torch.Tensor:
    """Average a tapped feature to (B, channels); see LossPredictionHead.forward."""
    shape = tuple(feat.shape)
    if feat.dim() == 3 and shape[2] == channels:
        return feat.mean(dim=1)
    if feat.dim() > 2:
        feat = feat.flatten(2).mean(dim=2)
    if feat.shape[1] == channels:
        return feat
    if len(shape) == 3:
        # A transformer block's (B, tokens, C) output is the usual 3-D tap; telling
        # the user to set in_channels to its token count would average the wrong way.
        raise ValueError(
            f'Tapped feature {level} has shape {shape}; in_channels[{level}] is '
            f'{channels}. A (B, tokens, C) sequence (a transformer block such as '
            f"mmpretrain ViT's 'backbone.layers.11') is averaged over its tokens when "
            f'in_channels[{level}] = {shape[2]}, its last dimension')
    raise ValueError(
        f'Tapped feature {level} has shape {shape}: {shape[1]} channels, but '
        f'in_channels[{level}] is {channels}; fix in_channels of the '
        'LossPredictionHead')
