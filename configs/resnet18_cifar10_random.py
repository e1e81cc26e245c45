# Random selection baseline on CIFAR-10: the plain ResNet-18.
_base_ = './_base_/resnet18_cifar10_al.py'
train_cfg = dict(strategy=dict(type='RandomStrategy'))
