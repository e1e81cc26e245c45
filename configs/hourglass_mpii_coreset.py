# Core-set baseline on MPII: k-center greedy over the last hourglass stack's
# output, average pooled.
_base_ = './_base_/hourglass_mpii_al.py'
train_cfg = dict(strategy=dict(type='CoreSetStrategy'))
