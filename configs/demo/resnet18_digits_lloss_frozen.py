# Frozen-feature learning loss on the digits demo: the loss prediction module reads
# detached features from epoch 0, so the ranking loss never moves the ResNet, which
# trains exactly as the random baseline's (same seed, same weights after a cycle);
# only the selection differs.
_base_ = './resnet18_digits_lloss.py'

model = dict(detach_epoch=0)
