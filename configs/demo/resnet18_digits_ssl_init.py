# Self-supervised initialisation and active learning in one run: SimCLR trains on
# the pool digits (the target's ResNet-18), the target starts from its backbone,
# TypiClust chooses cycle 0's labels on its features, then random queries.
_base_ = './resnet18_digits_random.py'
train_cfg = dict(initial_strategy=dict(type='TypiClustStrategy'),
                 initial_features=dict(type='SelfSupervisedFeatures',
                                       init_backbone=True))
