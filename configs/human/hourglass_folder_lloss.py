# Learning loss with a person in the loop for human pose (top-down, COCO's 17
# keypoints): the paper's 8-stack hourglass (Newell et al.) with a loss prediction
# module on every stack, on your own images. Each round trains, evaluates, exports
# the images the model most wants labeled (work_dir/queries/cycle_<k>/: a box and
# 17 keypoints per person, Label Studio "rectanglelabels" + "keypointlabels") and
# stops until tools/al_import.py brings the labels.
#
#   data/my_people/                   your images, in any subfolders
#   data/my_people/labeled.json       your labeled people (COCO keypoints: a box
#                                     and 17 [x, y, v] per person)
#   data/my_people/val.json           labeled people kept for evaluation
#   data/my_people/unlabeled.json     tools/images_to_coco.py data/my_people ...
#   data/my_people/person_boxes.json  the people to pose in the unlabeled images:
#                                     COCO detection results ([{image_id, bbox,
#                                     score, category_id: 1}], image ids of
#                                     unlabeled.json) from your person detector
#
# A top-down model poses people in given boxes, so the pool is the images with at
# least one person box; an image is scored by its hardest person (the highest
# predicted loss) and labeled as a whole. Rerun tools/detect_people.py after
# each tools/images_to_coco.py: the boxes point at images by id.
_base_ = ('mmpose::body_2d_keypoint/topdown_heatmap/coco/'
          'td-hm_hourglass52_8xb32-210e_coco-256x256.py')
custom_imports = dict(imports=['mmal', 'mmal.models.adapters.pose',
                               'mmal.models.backbones.newell_hourglass'],
                      allow_failed_imports=False)

data_root = 'data/my_people/'
num_stacks = 8
codec = dict(
    type='MSRAHeatmap', input_size=(256, 256), heatmap_size=(64, 64), sigma=2)

model = dict(
    _delete_=True,
    type='LearningLossModel',
    target=dict(
        type='TopdownPoseEstimator',
        data_preprocessor={{_base_.model.data_preprocessor}},
        # The heatmap layers belong to the backbone (the next stack reads them),
        # so CPMHead adds no layer and supervises each stack's heatmaps.
        backbone=dict(type='NewellHourglassNet', num_joints=17,
                      num_stacks=num_stacks, channels=256, depth=4),
        head=dict(type='CPMHead', in_channels=17, out_channels=17,
                  num_stages=num_stacks, deconv_out_channels=None,
                  final_layer=None,
                  loss=dict(type='KeypointMSELoss', use_target_weight=True),
                  decoder=codec),
        test_cfg={{_base_.model.test_cfg}}),
    taps=[f'backbone.features.{stack}' for stack in range(num_stacks)],
    head=dict(in_channels=[256] * num_stacks, mid_channels=128),
    margin=1.0,
    loss_weight=1e-4,  # the heatmap MSE is small, as on MPII
    detach_epoch=75)   # as configs/hourglass_mpii_lloss.py: 75 of 125 epochs


def coco_people(ann_file, pipeline, **kwargs):
    return dict(type='CocoDataset', data_root=data_root, data_mode='topdown',
                ann_file=ann_file, data_prefix=dict(img=''), pipeline=pipeline,
                **kwargs)


# Your labeled people; mmal trains on its own copy (work_dir/labels/labeled.json)
# and never writes your file.
train_dataloader = dict(
    batch_size=6,
    dataset=coco_people('labeled.json', {{_base_.train_pipeline}},
                        _delete_=True))
val_dataloader = dict(
    dataset=coco_people('val.json', {{_base_.val_pipeline}}, test_mode=True,
                        _delete_=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'val.json')
test_evaluator = val_evaluator

# Adam 5e-4 (mmpose's COCO recipe) for 125 epochs per round, /10 at epoch 100.
param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=125, milestones=[100], gamma=0.1,
         by_epoch=True)
]

train_cfg = dict(
    _delete_=True,
    type='ActiveLearningLoop',
    oracle=dict(type='HumanOracle'),
    unlabeled_dataset=coco_people(
        'unlabeled.json', {{_base_.val_pipeline}}, test_mode=True,
        bbox_file=data_root + 'person_boxes.json',
        filter_cfg=dict(bbox_score_thr=0.3)),  # drop the detector's weak boxes
    strategy=dict(type='LearningLossStrategy'),
    cycles=10,             # rounds of labeling
    query_size=100,        # images a person labels per round
    subset_size=2000,      # unlabeled images scored per round
    max_epochs=125,
    curve_metric='coco/AP')
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='LossPredictionDetachHook')
]
# mmal saves cycle_<k>.pth after every cycle; the base keeps the best AP, which
# means nothing across rounds.
default_hooks = dict(
    checkpoint=dict(interval=-1, save_last=False, save_best=None))
randomness = dict(seed=0)
