# Learning loss on CIFAR-10 (paper Sec. 4.1): ResNet-18 with a loss prediction
# module on its four stages, margin 1, lambda 1, features detached at epoch 120.
_base_ = './_base_/resnet18_cifar10_al.py'

model = dict(
    _delete_=True,
    type='LearningLossModel',
    target={{_base_.model}},
    taps=['backbone.layer1', 'backbone.layer2', 'backbone.layer3',
          'backbone.layer4'],
    head=dict(in_channels=[64, 128, 256, 512], mid_channels=128),
    margin=1.0,
    loss_weight=1.0,
    detach_epoch=120)
custom_hooks = [dict(type='LossPredictionDetachHook')]
train_cfg = dict(strategy=dict(type='LearningLossStrategy'))
