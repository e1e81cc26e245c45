# Diversity-aware learning loss on the digits demo (paper recipe for the model):
# of the 2K candidates with the highest predicted loss, label K by k-center greedy
# on pooled features, so one query does not spend its budget on near-duplicates.
_base_ = './resnet18_digits_lloss.py'

train_cfg = dict(strategy=dict(_delete_=True, type='DiverseLearningLossStrategy',
                               beta=2.0))
