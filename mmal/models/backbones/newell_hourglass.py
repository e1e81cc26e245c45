"""The stacked hourglass network of Newell, Yang and Deng (ECCV 2016), as in their
``pose-hg-train`` code (``hg.lua``, ``Residual.lua``), registered in mmpose's MODELS.

Import it from a config (``custom_imports = dict(imports=[...,
'mmal.models.backbones.newell_hourglass'])``); ``import mmal`` never does.
"""
from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpose.registry import MODELS


class Residual(nn.Module):
    """Newell's pre-activation bottleneck: BN-ReLU-conv1x1 (out/2), BN-ReLU-conv3x3
    (out/2), BN-ReLU-conv1x1 (out), plus the input (a 1x1 conv where the widths
    differ)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        mid = out_channels // 2
        self.block = nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, mid, 1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, 1))
        self.skip = (nn.Identity() if in_channels == out_channels else
                     nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) + self.skip(x)


def residuals(channels: int, num: int) -> nn.Sequential:
    return nn.Sequential(*(Residual(channels, channels) for _ in range(num)))


class Hourglass(nn.Module):
    """One hourglass of ``depth`` 2x2 max-pool downsamplings: an upper residual
    branch at full resolution plus pool, residuals, the next level (or residuals at
    the bottom), residuals and nearest 2x upsampling."""

    def __init__(self, depth: int, channels: int, num_modules: int = 1):
        super().__init__()
        self.up = residuals(channels, num_modules)
        self.low1 = residuals(channels, num_modules)
        self.low2 = (Hourglass(depth - 1, channels, num_modules)
                     if depth > 1 else residuals(channels, num_modules))
        self.low3 = residuals(channels, num_modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.low3(self.low2(self.low1(F.max_pool2d(x, 2, stride=2))))
        return self.up(x) + F.interpolate(low, scale_factor=2, mode='nearest')


@MODELS.register_module()
class NewellHourglassNet(BaseModule):
    """The 8-stack hourglass of Newell et al. (2016): about 26M parameters at 16
    joints (``tests/test_pose/test_newell_hourglass.py`` counts them).

    Stem: 7x7/2 conv (64), BN, ReLU, Residual(64, 128), 2x2 max pool,
    Residual(128, 128), Residual(128, 256): a quarter of the input resolution.
    Each stack: an hourglass, ``num_modules`` residuals, a 1x1 conv-BN-ReLU
    (``features[i]``, the stack's 256-channel features), and a 1x1 conv to one
    heatmap per joint (``heatmap_convs[i]``). Between stacks, the features and the
    heatmaps are mapped back by 1x1 convs and added to the stack's input
    (intermediate supervision feeds the predictions forward).

    The heatmap layers are part of the network (the next stack reads them), so the
    backbone returns every stack's heatmaps and ``CPMHead`` must not add a layer:
    ``CPMHead(in_channels=num_joints, out_channels=num_joints,
    num_stages=num_stacks, deconv_out_channels=None, final_layer=None)``.

    Args:
        num_joints (int): Heatmaps per stack. Defaults to 16 (MPII).
        num_stacks (int): Defaults to 8.
        channels (int): Features inside the hourglasses. Defaults to 256.
        depth (int): Downsamplings per hourglass. Defaults to 4.
        num_modules (int): Residuals at each hourglass position. Defaults to 1.
        init_cfg (dict, optional): Defaults to None (PyTorch's default init).
    """

    def __init__(self, num_joints: int = 16, num_stacks: int = 8,
                 channels: int = 256, depth: int = 4, num_modules: int = 1,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.num_stacks = num_stacks
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64),
            nn.ReLU(inplace=True), Residual(64, 128), nn.MaxPool2d(2, 2),
            Residual(128, 128), Residual(128, channels))
        self.hourglasses = nn.ModuleList(
            Hourglass(depth, channels, num_modules) for _ in range(num_stacks))
        self.features = nn.ModuleList(
            nn.Sequential(residuals(channels, num_modules),
                          nn.Conv2d(channels, channels, 1),
                          nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
            for _ in range(num_stacks))
        self.heatmap_convs = nn.ModuleList(
            nn.Conv2d(channels, num_joints, 1) for _ in range(num_stacks))
        self.feature_remaps = nn.ModuleList(
            nn.Conv2d(channels, channels, 1) for _ in range(num_stacks - 1))
        self.heatmap_remaps = nn.ModuleList(
            nn.Conv2d(num_joints, channels, 1) for _ in range(num_stacks - 1))

    @property
    def feature_layers(self) -> nn.ModuleList:
        """Per-stack features (the backbone outputs heatmaps): what the pose
        adapter's core-set features read."""
        return self.features

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.stem(x)
        heatmaps: List[torch.Tensor] = []
        for i in range(self.num_stacks):
            feat = self.features[i](self.hourglasses[i](x))
            heatmaps.append(self.heatmap_convs[i](feat))
            if i < self.num_stacks - 1:
                x = x + self.feature_remaps[i](feat) + self.heatmap_remaps[i](
                    heatmaps[-1])
        return tuple(heatmaps)
