"""Local checkpoints load with ``weights_only=False`` again.

torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``, which refuses the
message hub, config and numpy objects that mmengine 0.10.7 pickles into every
checkpoint it saves, so ``resume`` fails. mmal replaces mmengine's loader for local
paths only (the scheme with no prefix): files on this machine, written by the user's
own runs. URLs and other schemes keep torch's safe default, and ``torch.load`` itself
is untouched.
"""
import os.path as osp

import torch
from mmengine.runner import CheckpointLoader


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local_trusted(filename: str, map_location=None):
    """mmengine's ``load_from_local`` for trusted local files of mmengine runs."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)
