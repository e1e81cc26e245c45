"""Local checkpoints load with ``weights_only=False`` again, where mmengine does not.

torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``, which refuses the
message hub, config and numpy objects that mmengine 0.10.7 pickles into every
checkpoint it saves, so ``resume`` fails. Where the installed mmengine's own local
loader still calls ``torch.load`` without ``weights_only`` (0.10.7, the pinned
version), mmal replaces it for local paths only (the scheme with no prefix): files on
this machine, written by the user's own runs. A newer mmengine that passes
``weights_only`` itself is left alone. URLs and other schemes keep torch's safe
default, and ``torch.load`` itself is untouched.
"""
import inspect
import os.path as osp

import torch
from mmengine.runner import CheckpointLoader
from mmengine.runner import checkpoint as mmengine_checkpoint


def mmengine_sets_weights_only() -> bool:
    """Whether mmengine's own local loader already decides ``weights_only``."""
    try:
        return 'weights_only' in inspect.getsource(mmengine_checkpoint.load_from_local)
    except (OSError, TypeError):
        return False


def load_from_local_trusted(filename: str, map_location=None):
    """mmengine's ``load_from_local`` for trusted local files of mmengine runs."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


if not mmengine_sets_weights_only():
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local_trusted)
