# Learning loss on the digits demo: the loss prediction module reads the four
# ResNet stages; the features are detached after 60% of each cycle, as in the
# paper's CIFAR-10 schedule (120 of 200 epochs).
_base_ = '../_base_/resnet18_digits_al.py'

model = dict(
    _delete_=True,
    type='LearningLossModel',
    target={{_base_.model}},
    taps=['backbone.layer1', 'backbone.layer2', 'backbone.layer3',
          'backbone.layer4'],
    head=dict(in_channels=[64, 128, 256, 512], mid_channels=128),
    margin=1.0,
    loss_weight=1.0,
    detach_epoch=18)
custom_hooks = [dict(type='LossPredictionDetachHook')]
train_cfg = dict(strategy=dict(type='LearningLossStrategy'))
