# Random selection baseline on PASCAL VOC07+12: the plain SSD300-VGG16.
_base_ = './_base_/ssd_vgg16_voc_al.py'
train_cfg = dict(strategy=dict(type='RandomStrategy'))
