# The paper's CIFAR-10 active learning protocol (Yoo & Kweon, 2019, Sec. 4.1) on
# mmpretrain's own ResNet-18-CIFAR config. Strategies and the learning loss model
# are set by the configs that inherit this one.
_base_ = 'mmpretrain::resnet/resnet18_8xb16_cifar10.py'
custom_imports = dict(imports=['mmal'], allow_failed_imports=False)

# Batch 128; SGD lr 0.1 -> 0.01 at epoch 160 of 200; momentum 0.9; wd 5e-4.
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[160],
                       gamma=0.1)

# 10 cycles: 1k random, then +1k per cycle chosen from a random subset of 10k.
train_cfg = dict(
    _delete_=True,
    type='ActiveLearningLoop',
    cycles=10,
    initial_size=1000,
    query_size=1000,
    subset_size=10000,
    max_epochs=200,
    reset_model=False,
    strategy=dict(type='RandomStrategy'))

# mmal saves cycle_<k>.pth after every cycle; per-epoch checkpoints are off.
default_hooks = dict(checkpoint=dict(interval=-1, save_last=False))
randomness = dict(seed=0)
