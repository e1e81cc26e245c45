# Learning loss with a person in the loop: SSD300-VGG16 with its loss prediction
# module (configs/ssd_vgg16_voc_lloss.py) on your own images. Each round trains,
# evaluates, then exports the images the model most wants labeled
# (work_dir/queries/cycle_<k>/) and stops until tools/al_import.py brings the labels.
#
#   data/my_images/            your images, in any subfolders
#   data/my_images/labeled.json    your labeled images (COCO)
#   data/my_images/val.json        labeled images kept for evaluation (COCO)
#   data/my_images/unlabeled.json  tools/images_to_coco.py data/my_images ...
_base_ = '../ssd_vgg16_voc_lloss.py'

data_root = 'data/my_images/'
classes = ('car', 'person', 'traffic light')  # your categories
metainfo = dict(classes=classes)
model = dict(target=dict(bbox_head=dict(num_classes=len(classes))))

# Your labeled images; mmal trains on its own copy (work_dir/labels/labeled.json)
# and never writes your file. Images labeled "no objects" are kept.
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        _delete_=True, type='CocoDataset', data_root=data_root, metainfo=metainfo,
        ann_file='labeled.json', data_prefix=dict(img=''),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True, type='CocoDataset', data_root=data_root, metainfo=metainfo,
        ann_file='val.json', data_prefix=dict(img=''), test_mode=True,
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='CocoMetric',
                     ann_file=data_root + 'val.json', metric='bbox')
test_evaluator = val_evaluator

train_cfg = dict(
    oracle=dict(type='HumanOracle', score_thr=0.3),
    unlabeled_dataset=dict(
        type='CocoDataset', data_root=data_root, metainfo=metainfo,
        ann_file='unlabeled.json', data_prefix=dict(img=''),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline={{_base_.test_pipeline}}),
    initial_size=None,     # the labeled set is yours
    cycles=10,             # rounds of labeling
    query_size=100,        # images a person labels per round
    subset_size=2000,      # unlabeled images scored per round
    max_epochs=100,
    key_field=None,
    curve_metric='coco/bbox_mAP')
