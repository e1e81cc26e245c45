# BADGE selection on the digits demo: the plain ResNet-18, same budgets.
_base_ = '../_base_/resnet18_digits_al.py'
train_cfg = dict(strategy=dict(type='BADGEStrategy'))
