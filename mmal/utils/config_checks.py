import os.path as osp
from typing import Iterator, List, Tuple

from .errors import InputError

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def leaf_datasets(dataset_cfg) -> Iterator[dict]:
    """The leaf dataset configs under Concat/Repeat wrappers."""
    if not isinstance(dataset_cfg, dict):
        return
    if 'datasets' in dataset_cfg:
        for sub in dataset_cfg['datasets']:
            yield from leaf_datasets(sub)
    elif isinstance(dataset_cfg.get('dataset'), dict):
        yield from leaf_datasets(dataset_cfg['dataset'])
    else:
        yield dataset_cfg


def missing_data_roots(cfg) -> List[Tuple[str, str]]:
    """(dataloader, data_root) pairs whose data_root does not exist."""
    missing = []
    for loader in LOADERS:
        loader_cfg = cfg.get(loader) or {}
        for leaf in leaf_datasets(loader_cfg.get('dataset')):
            root = leaf.get('data_root')
            if root and not osp.exists(osp.expanduser(root)) and \
                    (loader, root) not in missing:
                missing.append((loader, root))
    return missing


def check_data_roots(cfg) -> None:
    """Fail before any work if a configured ``data_root`` is missing."""
    missing = missing_data_roots(cfg)
    if missing:
        lines = '\n'.join(f'  {loader}: {root}' for loader, root in missing)
        raise InputError(
            f'Dataset folders not found (relative paths are from {osp.abspath(".")}):'
            f"\n{lines}\nPut the datasets there (the README shows each task's "
            'layout), or point '
            'data_root at them with --cfg-options, e.g. '
            'train_dataloader.dataset.data_root=/path/to/data')
