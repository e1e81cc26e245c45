# Learning loss (paper recipe), each cycle trained from the initial weights
# instead of the previous cycle's, to compare with warm starts.
_base_ = './resnet18_digits_lloss.py'
train_cfg = dict(reset_model=True)
