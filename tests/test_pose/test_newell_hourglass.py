"""mmal's NewellHourglassNet against the published 8-stack hourglass (Newell et al.,
2016, and their pose-hg-train code), and the MPII configs that use it."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import mmal.models.backbones.newell_hourglass  # noqa: F401  (registers it)
from mmal.models.backbones.newell_hourglass import Hourglass, NewellHourglassNet

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def conv(cin, cout, k=1):
    return cin * cout * k * k + cout  # torch7 convolutions have biases


def bn(c):
    return 2 * c


def residual(cin, cout):
    mid = cout // 2
    block = (bn(cin) + conv(cin, mid) + bn(mid) + conv(mid, mid, 3) + bn(mid) +
             conv(mid, cout))
    return block + (0 if cin == cout else conv(cin, cout))


def published_count(joints=16, stacks=8, f=256, depth=4) -> int:
    """hg.lua's parameters, counted from its layer list."""
    stem = conv(3, 64, 7) + bn(64) + residual(64, 128) + residual(128, 128) + \
        residual(128, f)
    # Per level: upper, low1 and low3 residuals; one more at the bottom.
    hourglass = (3 * depth + 1) * residual(f, f)
    head = residual(f, f) + conv(f, f) + bn(f) + conv(f, joints)
    feedback = conv(f, f) + conv(joints, f)
    return stem + stacks * (hourglass + head) + (stacks - 1) * feedback


def test_parameter_count_is_the_published_networks():
    net = NewellHourglassNet()
    count = sum(p.numel() for p in net.parameters())
    assert count == published_count() == 25_434_112
    # "about 26M" (vs 752M for mmpose's HourglassNet with 8 stacks).
    assert 25e6 < count < 26e6


def test_structure_and_output_shapes():
    net = NewellHourglassNet().eval()
    # 4 downsamplings per hourglass, nested; one residual at each position.
    hourglass, depth = net.hourglasses[0], 0
    while isinstance(hourglass, Hourglass):
        assert len(hourglass.up) == len(hourglass.low1) == len(hourglass.low3) == 1
        hourglass, depth = hourglass.low2, depth + 1
    assert depth == 4
    with torch.no_grad():
        heatmaps = net(torch.randn(2, 3, 64, 64))
    # One heatmap set per stack (intermediate supervision), at 1/4 resolution.
    assert len(heatmaps) == 8
    assert all(h.shape == (2, 16, 16, 16) for h in heatmaps)
    # Each stack refines: the stacks' predictions differ.
    assert not torch.allclose(heatmaps[0], heatmaps[-1])


@pytest.mark.parametrize('config, backbone, taps_module', [
    ('hourglass_mpii_lloss.py', 'NewellHourglassNet', 'backbone.features'),
    ('hourglass52_mpii_lloss.py', 'HourglassNet', 'backbone.out_convs'),
])
def test_configs_choose_the_backbone(config, backbone, taps_module):
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    target = cfg.model.target
    assert target.backbone.type == backbone and target.backbone.num_stacks == 8
    assert target.head.type == 'CPMHead' and target.head.num_stages == 8
    assert cfg.model.taps == [f'{taps_module}.{i}' for i in range(8)]
    assert cfg.model.head.in_channels == [256] * 8


def test_paper_config_builds_the_newell_network():
    from mmpose.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'hourglass_mpii_random.py'))
    model = MODELS.build(cfg.model)
    assert isinstance(model.backbone, NewellHourglassNet)
    # CPMHead adds no layer: the network's own heatmap convolutions predict.
    assert sum(p.numel() for p in model.head.parameters()) == 0
    assert sum(p.numel() for p in model.parameters()) == published_count()
