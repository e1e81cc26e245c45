# The paper's human pose protocol (Yoo & Kweon, 2019, Sec. 4.3) on mmpose's own
# MPII hourglass config (data, codec, evaluation): Newell et al.'s 8-stack hourglass,
# 256x256 input, PCKh@0.5 on the MPII val split (MpiiPCKAccuracy with the headbox
# file). Strategies and the learning loss model are set by the configs that inherit
# this one; configs/hourglass52_mpii_lloss.py keeps mmpose's HourglassNet instead.
_base_ = ('mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
          'td-hm_hourglass52_8xb64-210e_mpii-256x256.py')
custom_imports = dict(imports=['mmal', 'mmal.models.adapters.pose',
                               'mmal.models.backbones.newell_hourglass'],
                      allow_failed_imports=False)

# The paper's network (Newell et al., 2016; about 26M parameters): 8 stacks, 256
# features, 4 downsamplings per hourglass. Its heatmap layers belong to the
# backbone (the next stack reads them), so CPMHead adds no layer and supervises
# each stack's heatmaps.
num_stacks = 8
model = dict(
    backbone=dict(_delete_=True, type='NewellHourglassNet', num_joints=16,
                  num_stacks=num_stacks, channels=256, depth=4),
    head=dict(in_channels=16, num_stages=num_stacks, final_layer=None))

# Data layout (mmpose's): data/mpii/images/*.jpg, data/mpii/annotations/
# mpii_{train,val}.json and mpii_gt_val.mat (headboxes for PCKh). The base config
# reads the headbox file relative to the working directory.
data_root = 'data/mpii/'
train_dataloader = dict(batch_size=6, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(
    data_root=data_root,
    headbox_file=data_root + 'annotations/mpii_gt_val.mat'))
test_dataloader = val_dataloader

# Batch 6; lr 2.5e-4 -> 2.5e-5 at epoch 100 of 125, no warm-up. RMSprop is the
# optimizer of the hourglass recipe (Newell et al., 2016) this lr comes from;
# mmpose's own config uses Adam.
optim_wrapper = dict(optimizer=dict(_delete_=True, type='RMSprop', lr=2.5e-4))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[100], gamma=0.1)
]

# 10 cycles: 1k random instances, then +1k per cycle chosen from a random subset
# of 5k. The paper's per-cycle K for MPII is not known to us: query_size is a
# documented setting, 1000 here. Instances (not images) are the pool's samples,
# keyed by MpiiDataset's instance `id`.
train_cfg = dict(
    _delete_=True,
    type='ActiveLearningLoop',
    cycles=10,
    initial_size=1000,
    query_size=1000,
    subset_size=5000,
    max_epochs=125,
    reset_model=False,
    key_field='id',
    curve_metric='PCK',
    strategy=dict(type='RandomStrategy'))

# mmal saves cycle_<k>.pth after every cycle; per-epoch and best checkpoints are
# off (the base keeps the best PCK, which means nothing across cycles).
default_hooks = dict(
    checkpoint=dict(interval=-1, save_last=False, save_best=None))
randomness = dict(seed=0)
