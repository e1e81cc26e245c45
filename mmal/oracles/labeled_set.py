"""The labeled set of a person's run: ``<work_dir>/labels/labeled.json``, a COCO
file that starts as a copy of the user's annotation file (:func:`init_labels`;
the user's file is never written) and grows with every import. Each version is
also kept as ``labels/versions/labeled_<n>.json`` (0 = the user's file).
Everything that changes it takes turns on :func:`import_lock`."""
import contextlib
import fcntl
import json
import os
import os.path as osp
from typing import List

from mmal.utils import dump_json_atomic
from .awaiting import read_awaiting
from .formats import coco
from .labels import Labels
from .tasks import LabelImportError


def labels_dir(work_dir: str) -> str:
    return osp.join(work_dir, 'labels')


def labeled_path(work_dir: str) -> str:
    return osp.join(labels_dir(work_dir), 'labeled.json')


@contextlib.contextmanager
def import_lock(work_dir: str):
    """Hold an exclusive lock on the work dir (waiting for it), so that imports
    and the run taking their labels come one after another. A lock on the folder
    itself leaves no lock file behind."""
    try:
        fd = os.open(work_dir, os.O_RDONLY)
    except OSError as error:
        raise LabelImportError(f'{work_dir} is not a work dir ({error.strerror})'
                               ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _versions(work_dir: str) -> List[str]:
    folder = osp.join(labels_dir(work_dir), 'versions')
    if not osp.isdir(folder):
        return []
    return sorted(osp.join(folder, name) for name in os.listdir(folder)
                  if name.startswith('labeled_') and name.endswith('.json'))


def save_version(labeled: dict, work_dir: str) -> str:
    """A new version, kept, then ``labeled.json`` (both atomic)."""
    path = osp.join(labels_dir(work_dir), 'versions',
                    f'labeled_{len(_versions(work_dir)):04d}.json')
    dump_json_atomic(labeled, path)
    dump_json_atomic(labeled, labeled_path(work_dir))
    return path


def load_json(path: str, what: str = 'file'):
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except FileNotFoundError:
        raise LabelImportError(f'{path} does not exist') from None
    except (ValueError, UnicodeDecodeError) as error:
        raise LabelImportError(
            f'{path} is not a complete JSON {what} ({error}); was it truncated? '
            'Export it again') from None
    except RecursionError:
        raise LabelImportError(
            f'{path} nests its JSON too deeply to be a {what} of labels; export '
            'it again from the annotation tool') from None


def init_labels(work_dir: str, ann_file: str, empty: bool = False) -> str:
    """Start the labeled set from the user's COCO annotation file unless the work
    dir already has one; returns ``labels/labeled.json``. ``empty``: a missing
    ``ann_file`` starts an empty set (a cold start)."""
    if osp.isfile(labeled_path(work_dir)):
        return labeled_path(work_dir)
    if empty and not osp.exists(ann_file):
        labeled = dict(images=[], annotations=[], categories=[])
    else:
        labeled = load_json(ann_file, 'COCO file')
    if not isinstance(labeled, dict) or not isinstance(labeled.get('images'), list):
        raise LabelImportError(f'{ann_file} is not a COCO file (no "images" list)')
    labeled.setdefault('annotations', [])
    labeled.setdefault('categories', [])
    save_version(labeled, work_dir)
    return labeled_path(work_dir)


def file_name(key: str, awaiting: dict) -> str:
    """Where labeled.json lists a pool image: relative to the labeled set's root."""
    path = osp.join(awaiting['img_root'], key)
    return osp.relpath(path, awaiting['label_root']).replace(os.sep, '/')


def missing_keys(work_dir: str) -> List[str]:
    """Keys of the open query that have no labels yet, in query order."""
    awaiting = read_awaiting(work_dir)
    labeled = load_json(labeled_path(work_dir), 'COCO file')
    present = {image['file_name'] for image in labeled['images']}
    return [item['key'] for item in awaiting['items']
            if file_name(item['key'], awaiting) not in present]


def merge_labels(work_dir: str, labels: Labels, awaiting: dict):
    """Merge checked ``labels`` into ``labeled.json`` as a new version; returns
    the version's path and the keys whose earlier labels were replaced. Call it
    under :func:`import_lock`."""
    labeled = load_json(labeled_path(work_dir), 'COCO file')
    merged, replaced = coco.merge(labeled, labels,
                                  lambda key: file_name(key, awaiting))
    return save_version(merged, work_dir), replaced
