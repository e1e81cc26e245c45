# Core-set baseline on CIFAR-10: k-center greedy over pooled ResNet-18 features.
_base_ = './_base_/resnet18_cifar10_al.py'
train_cfg = dict(strategy=dict(type='CoreSetStrategy'))
