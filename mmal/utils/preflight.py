"""Checks ``tools/al_train.py`` runs before any work, so that a missing download
or a CPU-only mmcv on a GPU machine fails with the fix, not deep in cycle 0."""
import os
import os.path as osp
import urllib.request
from typing import Iterator, Optional, Tuple
from urllib.parse import urlparse

# Config keys whose string values name checkpoints that mmengine may download.
CHECKPOINT_KEYS = ('checkpoint', 'pretrained', 'load_from')


def checkpoint_settings(cfg, prefix: str = '') -> Iterator[Tuple[str, str]]:
    """(config key, value) of every checkpoint a config would load: ``load_from``
    and ``init_cfg=dict(type='Pretrained', checkpoint=...)`` anywhere."""
    if hasattr(cfg, 'to_dict'):  # an mmengine Config
        cfg = cfg.to_dict()
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            path = f'{prefix}.{key}' if prefix else str(key)
            if key in CHECKPOINT_KEYS and isinstance(value, str):
                if key != 'checkpoint' or cfg.get('type') == 'Pretrained':
                    yield path, value
            else:
                yield from checkpoint_settings(value, path)
    elif isinstance(cfg, (list, tuple)):
        for index, value in enumerate(cfg):
            yield from checkpoint_settings(value, f'{prefix}.{index}')


def resolve_url(name: str) -> Optional[str]:
    """The URL mmengine downloads for a checkpoint name, None for local files."""
    from mmengine.runner.checkpoint import (get_external_models,
                                            get_mmcls_models,
                                            get_torchvision_models)
    for scheme, models in (('open-mmlab://', get_external_models),
                           ('openmmlab://', get_external_models),
                           ('torchvision://', get_torchvision_models),
                           ('mmcls://', get_mmcls_models)):
        if name.startswith(scheme):
            url = models().get(name[len(scheme):])
            return url if url and url.startswith(('http://', 'https://')) else None
    return name if name.startswith(('http://', 'https://')) else None


def cached_path(url: str) -> str:
    """Where mmengine (through torch.hub) caches a downloaded checkpoint."""
    import torch
    return osp.join(torch.hub.get_dir(), 'checkpoints',
                    osp.basename(urlparse(url).path))


def fetch_error(url: str, timeout: float = 10.) -> Optional[str]:
    """Why ``url`` cannot be fetched now, or None if it can. ``MMAL_OFFLINE=1``
    answers without asking the network."""
    if os.environ.get('MMAL_OFFLINE', '0') not in ('', '0'):
        return 'MMAL_OFFLINE is set'
    try:
        request = urllib.request.Request(url, method='HEAD')
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except Exception as error:  # URLError, timeouts, HTTP errors alike
        return f'{type(error).__name__}: {error}'


def check_checkpoint_downloads(cfg) -> None:
    """Fail now, with the config key to change, for every checkpoint URL that is
    neither cached nor reachable."""
    problems = []
    for key, value in checkpoint_settings(cfg):
        url = resolve_url(value)
        if url is None or osp.isfile(cached_path(url)):
            continue
        error = fetch_error(url)
        if error is not None:
            problems.append(
                f'  {key} = {value!r}: {url} is not in the cache '
                f'({cached_path(url)}) and cannot be fetched ({error}).\n'
                f'    Copy the file there, or use a local copy: --cfg-options '
                f'{key}=/path/to/{osp.basename(urlparse(url).path)}')
    if problems:
        raise RuntimeError('Pretrained weights cannot be loaded:\n' +
                           '\n'.join(problems))


def runs_on_cuda() -> bool:
    """Whether mmengine's runner will put the model on a CUDA device."""
    import torch
    return torch.cuda.is_available()


def check_mmcv_ops_device(cfg, cuda_available: Optional[bool] = None) -> None:
    """Detection and pose models run mmcv's compiled ops (NMS, ...). A CPU-only
    mmcv on a GPU run would fail at the first evaluation: stop now with the fix."""
    if cfg.get('default_scope') not in ('mmdet', 'mmpose'):
        return
    if cuda_available is None:
        cuda_available = runs_on_cuda()
    if not cuda_available:
        return
    from mmcv.ops import get_compiling_cuda_version
    if get_compiling_cuda_version() != 'not available':
        return
    raise RuntimeError(
        'This run would train on the GPU, but the installed mmcv 2.1.0 has CPU ops '
        'only (it was built where no GPU was visible, or with MMAL_MMCV_OPS=cpu). '
        'Rebuild it with CUDA ops: MMAL_MMCV_OPS=cuda bash tools/install_env.sh '
        '.venv (needs the CUDA toolkit matching torch.version.cuda), or run on the '
        'CPU with CUDA_VISIBLE_DEVICES= .')
