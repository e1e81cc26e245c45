# Cold start on the digits demo: cycle 0's 100 labels are chosen by TypiClust on
# the features of SimCLR trained on the 1,198 pool digits (the target's ResNet-18,
# 10 epochs), instead of at random; every later query is random, so the curve
# shows what the initial set alone changes.
_base_ = './resnet18_digits_random.py'
train_cfg = dict(initial_strategy=dict(type='TypiClustStrategy'),
                 initial_features=dict(type='SelfSupervisedFeatures'))
