# Random selection, each cycle trained from the initial weights instead of the
# previous cycle's (DISTIL's reset), to compare with warm starts.
_base_ = './resnet18_digits_random.py'
train_cfg = dict(reset_model=True)
