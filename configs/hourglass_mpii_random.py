# Random selection baseline on MPII: the plain 8-stack hourglass.
_base_ = './_base_/hourglass_mpii_al.py'
train_cfg = dict(strategy=dict(type='RandomStrategy'))
