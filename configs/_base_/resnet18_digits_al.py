# The embedded default: the CIFAR-10 protocol's ResNet-18 on scikit-learn's 8x8
# digits (1,198 train / 599 test images, shipped with scikit-learn, no download),
# with budgets small enough to finish on 2 CPU cores in minutes. The strategy and
# the learning loss model are set by the demo configs that inherit this one.
_base_ = './resnet18_cifar10_al.py'
custom_imports = dict(imports=['mmal', 'mmal.datasets.digits'],
                      allow_failed_imports=False)

data_preprocessor = dict(mean=[77.85] * 3, std=[95.85] * 3)
train_pipeline = [
    dict(type='RandomCrop', crop_size=8, padding=1),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
# drop_last: a last batch of a few samples makes BatchNorm over layer4's 1x1 maps
# too noisy to train.
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    drop_last=True,
    dataset=dict(_delete_=True, type='DigitsDataset', split='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, type='DigitsDataset', split='test',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

# 100, 150, ..., 300 labeled; 30 epochs per cycle (ResNet-18 needs the steps),
# lr 0.1 -> 0.01 at epoch 24.
param_scheduler = dict(milestones=[24])
train_cfg = dict(cycles=5, initial_size=100, query_size=50, subset_size=400,
                 max_epochs=30)
default_hooks = dict(logger=dict(interval=50))
