# BALD selection on the digits demo: the plain ResNet-18, same budgets. It has
# no dropout, so scoring adds dropout (p=0.5) on the head's input, 20 passes.
_base_ = '../_base_/resnet18_digits_al.py'
train_cfg = dict(strategy=dict(type='BALDStrategy', passes=20, head_dropout=0.5))
