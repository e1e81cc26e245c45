# Learning loss on PASCAL VOC07+12 (paper Sec. 4.2): SSD300-VGG16 with a loss
# prediction module on the six feature maps its head reads; margin 1, lambda 1.
_base_ = './_base_/ssd_vgg16_voc_al.py'

model = dict(
    _delete_=True,
    type='LearningLossModel',
    target={{_base_.model}},
    # SSDNeck returns the six maps SSDHead sees: conv4_3 (L2-normed), fc7, extras.
    taps=['neck:0', 'neck:1', 'neck:2', 'neck:3', 'neck:4', 'neck:5'],
    head=dict(in_channels=[512, 1024, 512, 256, 256, 256], mid_channels=128),
    margin=1.0,
    loss_weight=1.0)
train_cfg = dict(strategy=dict(type='LearningLossStrategy'))
