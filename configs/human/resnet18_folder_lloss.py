# Learning loss with a person in the loop for image classification: mmpretrain's
# ResNet-18 (its ImageNet recipe, with your number of classes) with a loss prediction module on its four stages, on
# your own images. Each round trains, evaluates, exports the images the model most
# wants labeled (work_dir/queries/cycle_<k>/: one class per image, Label Studio
# "choices") and stops until tools/al_import.py brings the labels.
#
#   data/my_images/                your images, in any subfolders
#   data/my_images/labeled.json    your labeled images (COCO: one annotation with a
#                                  category_id per image, no box needed)
#   data/my_images/val.json        labeled images kept for evaluation (COCO)
#   data/my_images/unlabeled.json  tools/images_to_coco.py data/my_images ...
_base_ = 'mmpretrain::resnet/resnet18_8xb32_in1k.py'
custom_imports = dict(imports=['mmal', 'mmal.datasets.coco_classification'],
                      allow_failed_imports=False)

data_root = 'data/my_images/'
classes = ('cat', 'dog')  # your classes
metainfo = dict(classes=classes)
data_preprocessor = dict(num_classes=len(classes))

model = dict(
    _delete_=True,
    type='LearningLossModel',
    target=dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ),
                      style='pytorch'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=len(classes),
                  in_channels=512, loss=dict(type='CrossEntropyLoss'),
                  topk=(1, ))),
    taps=['backbone.layer1', 'backbone.layer2', 'backbone.layer3',
          'backbone.layer4'],
    head=dict(in_channels=[64, 128, 256, 512], mid_channels=128),
    margin=1.0,
    loss_weight=1.0,
    detach_epoch=60)  # the CIFAR ratio: 60% of each cycle's 100 epochs


def coco_classification(ann_file, pipeline, **kwargs):
    return dict(type='CocoClassificationDataset', data_root=data_root,
                ann_file=ann_file, data_prefix=dict(img_path=''),
                metainfo=metainfo, pipeline=pipeline, **kwargs)


# Your labeled images; mmal trains on its own copy (work_dir/labels/labeled.json)
# and never writes your file.
train_dataloader = dict(
    dataset=coco_classification('labeled.json', {{_base_.train_pipeline}},
                                _delete_=True))
val_dataloader = dict(
    dataset=coco_classification('val.json', {{_base_.test_pipeline}},
                                test_mode=True, _delete_=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

train_cfg = dict(
    _delete_=True,
    type='ActiveLearningLoop',
    oracle=dict(type='HumanOracle'),
    unlabeled_dataset=coco_classification('unlabeled.json',
                                          {{_base_.test_pipeline}}),
    strategy=dict(type='LearningLossStrategy'),
    cycles=10,             # rounds of labeling
    query_size=100,        # images a person labels per round
    subset_size=2000,      # unlabeled images scored per round
    max_epochs=100,
    curve_metric='accuracy/top1')
custom_hooks = [dict(type='LossPredictionDetachHook')]
default_hooks = dict(checkpoint=dict(interval=-1, save_last=False))
randomness = dict(seed=0)
