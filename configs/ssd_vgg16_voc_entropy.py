# Entropy baseline on PASCAL VOC07+12: label the images whose most confident
# anchors have the highest class-posterior entropy (SingleStageDetectorLossAdapter).
_base_ = './_base_/ssd_vgg16_voc_al.py'
train_cfg = dict(strategy=dict(type='EntropyStrategy'))
