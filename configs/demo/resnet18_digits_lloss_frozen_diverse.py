# Both variants at once: frozen-feature loss prediction (the model trains as the
# random baseline's) and the diversity-aware query of the top 2K by predicted loss.
_base_ = './resnet18_digits_lloss_frozen.py'

train_cfg = dict(strategy=dict(_delete_=True, type='DiverseLearningLossStrategy',
                               beta=2.0))
