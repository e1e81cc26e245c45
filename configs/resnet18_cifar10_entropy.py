# Entropy baseline on CIFAR-10: label the highest softmax entropy.
_base_ = './_base_/resnet18_cifar10_al.py'
train_cfg = dict(strategy=dict(type='EntropyStrategy'))
