# Core-set baseline on PASCAL VOC07+12: k-center greedy over average-pooled
# SSD300-VGG16 backbone features (fc7).
_base_ = './_base_/ssd_vgg16_voc_al.py'
train_cfg = dict(strategy=dict(type='CoreSetStrategy'))
