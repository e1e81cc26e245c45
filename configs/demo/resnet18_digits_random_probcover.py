# Cold start on the digits demo: cycle 0's 100 labels are chosen by ProbCover
# (ball radius by the purity rule on 10 k-means pseudo-classes, one per digit) on
# the features of SimCLR trained on the pool; every later query is random.
_base_ = './resnet18_digits_random.py'
train_cfg = dict(initial_strategy=dict(type='ProbCoverStrategy', num_classes=10),
                 initial_features=dict(type='SelfSupervisedFeatures'))
