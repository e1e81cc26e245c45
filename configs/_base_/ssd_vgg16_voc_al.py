# The paper's detection protocol (Yoo & Kweon, 2019, Sec. 4.2) on mmdet's own
# SSD300-VGG16 PASCAL VOC07+12 config: its model, augmentations, VOC07+12 trainval
# Concat/Repeat datasets and VOC07 test evaluation (VOCMetric, mAP, 11 points).
# Strategies and the learning loss model are set by the configs that inherit this.
_base_ = 'mmdet::pascal_voc/ssd300_voc0712.py'
custom_imports = dict(
    imports=['mmal', 'mmal.models.adapters.detection'],
    allow_failed_imports=False)

# The pool is VOC07+12 trainval (5,011 + 11,540 = 16,551 images, keyed by img_id).
# mmdet repeats it 10 times per epoch; here an epoch is one pass, as in the paper.
# Batch 32; mmdet's SGD (lr 1e-3, momentum 0.9, wd 5e-4), lr x0.1 at epoch 240 of
# 300. mmdet's 500-iteration linear warm-up is kept for stability (the paper names
# none). Schedulers and optimizer state restart every cycle.
train_dataloader = dict(batch_size=32, dataset=dict(times=1))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=True, milestones=[240], gamma=0.1)
]

# 10 cycles: 1k random images, then +1k per cycle chosen from a random 10k subset.
train_cfg = dict(
    _delete_=True,
    type='ActiveLearningLoop',
    cycles=10,
    initial_size=1000,
    query_size=1000,
    subset_size=10000,
    max_epochs=300,
    reset_model=False,
    strategy=dict(type='RandomStrategy'),
    score_batch_size=32,
    key_field='img_id',
    curve_metric='pascal_voc/mAP')

# mmal saves cycle_<k>.pth after every cycle; per-epoch checkpoints are off.
default_hooks = dict(checkpoint=dict(interval=-1, save_last=False))
randomness = dict(seed=0)
