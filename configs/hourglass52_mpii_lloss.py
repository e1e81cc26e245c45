# Alternative to hourglass_mpii_lloss.py: the same protocol on mmpose's own
# HourglassNet (8 stacks of mmpose's hourglass52 block: 752M parameters, 238 GMAC
# per 256x256 sample, about 30 times Newell et al.'s network). CPMHead adds the
# per-stack 1x1 heatmap layer, as in mmpose's config.
_base_ = './hourglass_mpii_lloss.py'

model = dict(
    target=dict(
        backbone=dict(_delete_=True, type='HourglassNet', num_stacks=8),
        head=dict(in_channels=256,
                  final_layer=dict(_delete_=True, kernel_size=1))),
    # Each stack's output has HourglassNet's feat_channel (256) channels.
    taps=[f'backbone.out_convs.{stack}' for stack in range(8)])
