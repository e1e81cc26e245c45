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
        """Predict losses from (B, C, ...) or (B, C) features; returns shape (B,)."""
        if len(feats) != len(self.branches):
            raise ValueError(f'LossPredictionHead expects {len(self.branches)} '
                             f'features (in_channels={self.in_channels}), got '
                             f'{len(feats)}')
        embeddings = []
        for level, (feat, branch) in enumerate(zip(feats, self.branches)):
            if feat.dim() > 2:
                feat = feat.flatten(2).mean(dim=2)
            if feat.shape[1] != branch.in_features:
                raise ValueError(
                    f'Tapped feature {level} has {feat.shape[1]} channels but '
                    f'in_channels[{level}] is {branch.in_features}; fix '
                    f'in_channels of the LossPredictionHead')
            embeddings.append(F.relu(branch(feat)))
        return self.fc(torch.cat(embeddings, dim=1)).squeeze(1)
