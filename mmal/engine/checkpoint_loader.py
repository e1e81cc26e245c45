"""Which checkpoints may run code when they are loaded.

A checkpoint is a pickle: ``torch.load(weights_only=False)`` runs whatever code
the file names. torch >= 2.6 loads with ``weights_only=True`` by default, which
also refuses the message hub, config and numpy objects that mmengine 0.10.7
pickles into every checkpoint it saves, and mmengine 0.10.7 calls ``torch.load``
without ``weights_only`` (``torch.hub``, for URLs, passes ``weights_only=False``).

mmal registers mmengine loaders for local files and http(s) URLs (which
``torchvision://``, ``open-mmlab://`` and ``mmcls://`` resolve to) that load a
file with ``weights_only=False`` only while it is trusted: the run's own
``cycle_<k>.pth`` in its work dir while the loop resumes from it
(:func:`trusting`), or a file the user marked with :func:`trust_checkpoint`
(``tools/al_train.py --trust-checkpoint PATH``). Everything else loads with
``weights_only=True``; a refusal says why and what to do. ``torch.load`` itself
is not changed.
"""
import contextlib
import os
import os.path as osp
import pickle
import re
from typing import Dict, Optional, Set

import torch
from mmengine.dist import get_dist_info
from mmengine.runner import CheckpointLoader
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.utils.dl_utils import load_url

from mmal.utils import InputError

_trusted: Set[str] = set()


def _name(filename: str) -> str:
    """One spelling per checkpoint: URLs as given, paths resolved."""
    if '://' in filename:
        return filename
    return osp.realpath(osp.expanduser(filename))


def trust_checkpoint(filename: str) -> None:
    """Load ``filename`` (a path or URL) with ``weights_only=False`` from now on
    in this process: only for files you trust, as unpickling can run any code."""
    _trusted.add(_name(filename))


@contextlib.contextmanager
def trusting(filename: str):
    """Trust ``filename`` while the ``with`` block runs."""
    name = _name(filename)
    added = name not in _trusted
    _trusted.add(name)
    try:
        yield
    finally:
        if added:
            _trusted.discard(name)


def _refusal(error: Exception) -> str:
    """torch's reason for refusing a file with ``weights_only=True``, in one
    line (its message is a page of advice around it)."""
    text = re.sub(r'\x1b\[[0-9;]*m', '', str(error))
    found = re.search(r'^.*(?:Unsupported global|unsupported GLOBAL).*$', text,
                      re.MULTILINE)
    line = found.group(0) if found else text.strip().splitlines()[0]
    return line.strip().removeprefix('WeightsUnpickler error: ').split(
        ' Please use ')[0].rstrip('.')


def _load(filename: str, load):
    """``load(weights_only)``, with ``weights_only=False`` only for a trusted
    ``filename``; torch's refusal explained."""
    if _name(filename) in _trusted:
        return load(False)
    try:
        return load(True)
    except pickle.UnpicklingError as error:
        raise InputError(
            f'{filename} is not a checkpoint this run wrote, so it is loaded with '
            f'weights_only=True, and torch refuses it ({_refusal(error)}). If '
            'you trust the file (unpickling it can run any code), pass '
            f'--trust-checkpoint {filename} (tools/al_train.py, '
            'tools/detect_people.py; in Python: mmal.engine.trust_checkpoint), or '
            'load it once yourself and save only its weights: '
            "torch.save(dict(state_dict=ckpt['state_dict']), path)") from None


def weight_mismatch(model_state: Dict[str, torch.Tensor], checkpoint: dict
                    ) -> Optional[str]:
    """How a checkpoint's weights differ from a model's, in one line (None: they
    match): keys missing or unexpected, shapes. Ignored, as by mmengine: DDP's
    ``module.`` prefix and BatchNorm's ``num_batches_tracked``.

    Args:
        model_state (dict): The model's ``state_dict()``.
        checkpoint (dict): The loaded checkpoint (its ``state_dict``, or itself).
    """

    def kept(names):
        return {re.sub(r'^module\.', '', name): name for name in names
                if not name.endswith('num_batches_tracked')}

    weights = checkpoint.get('state_dict', checkpoint)
    ours, theirs = kept(model_state), kept(weights)
    problems = []
    for what, names in (('missing', sorted(set(ours) - set(theirs))),
                        ('unexpected', sorted(set(theirs) - set(ours))),
                        ('of another shape', sorted(
                            name for name in set(ours) & set(theirs)
                            if tuple(model_state[ours[name]].shape) != tuple(
                                getattr(weights[theirs[name]], 'shape', ()))))):
        if names:
            shown = ', '.join(names[:3]) + (', ...' if len(names) > 3 else '')
            keys = 'keys' if len(names) > 1 else 'key'
            problems.append(f'{len(names)} {keys} {what}: {shown}')
    return '; '.join(problems) or None


def load_from_local(filename: str, map_location=None):
    """mmengine's ``load_from_local``, trusting only trusted files."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return _load(filename, lambda weights_only: torch.load(
        filename, map_location=map_location, weights_only=weights_only))


def load_from_http(filename: str, map_location=None, model_dir=None):
    """mmengine's ``load_from_http`` (rank 0 downloads first), trusting only
    trusted URLs."""

    def load():
        return _load(filename, lambda weights_only: load_url(
            filename, model_dir=model_dir, map_location=map_location,
            progress=os.isatty(0), weights_only=weights_only))

    rank, world_size = get_dist_info()
    if rank == 0:
        checkpoint = load()
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            checkpoint = load()
    return checkpoint


CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)
CheckpointLoader.register_scheme(prefixes=('http://', 'https://'),
                                 force=True)(load_from_http)
# torchvision://, open-mmlab:// and mmcls:// resolve their names to URLs and
# call mmengine's module-level load_from_http.
mmengine_checkpoint.load_from_http = load_from_http
