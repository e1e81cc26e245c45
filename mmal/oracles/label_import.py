"""Import a person's labels into the work dir's labeled set
(:mod:`mmal.oracles.labeled_set`).

:func:`import_labels` reads a COCO json or a Label Studio JSON export, checks all
of it against the open query (``al_state.json``'s ``awaiting``) and only then
writes: any problem raises :class:`LabelImportError` naming the image or
annotation, and nothing changes. Images of the query that the file does not mark
as annotated stay awaited (:func:`missing_keys`); importing an image again
replaces its labels. Imports into one work dir take turns (:func:`import_lock`),
so two started at once both land.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Tuple

from .awaiting import read_awaiting
from .formats import coco, label_studio
from .labeled_set import (import_lock, init_labels, labeled_path, load_json,
                          merge_labels, missing_keys)
from .labels import Labels
from .tasks import LabelImportError

FORMATS = ('auto', 'coco', 'labelstudio')

__all__ = ['FORMATS', 'ImportReport', 'LabelImportError', 'import_labels',
           'import_lock', 'init_labels', 'labeled_path', 'missing_keys',
           'read_labels']


@dataclass
class ImportReport:
    imported: List[str]
    empty: List[str]
    replaced: List[str]
    missing: List[str]
    version: str

    def summary(self) -> str:
        replaced = (f', {len(self.replaced)} replacing earlier labels'
                    if self.replaced else '')
        text = (f'imported labels of {len(self.imported)} images '
                f'({len(self.empty)} with no objects{replaced}) -> {self.version}')
        if self.missing:
            shown = ', '.join(self.missing[:10])
            more = ' ...' if len(self.missing) > 10 else ''
            return (f'{text}\n{len(self.missing)} queried images still await labels: '
                    f'{shown}{more}')
        return f'{text}\nall queried images are labeled: resume the run'


def read_labels(path: str, awaiting: dict, fmt: str = 'auto'
                ) -> Tuple[Labels, Dict[str, str]]:
    """Parse a COCO json or Label Studio JSON export against the open query."""
    if fmt not in FORMATS:
        raise LabelImportError(f'--format {fmt}: choose one of {FORMATS}')
    data = load_json(path)
    if fmt == 'auto':
        fmt = 'labelstudio' if isinstance(data, list) else 'coco'
    parse = coco.parse if fmt == 'coco' else label_studio.parse
    return parse(data, awaiting, osp.basename(path))


def import_checked(work_dir: str, labels: Labels, where: Dict[str, str],
                   awaiting: dict, clip: bool = False) -> ImportReport:
    """Check parsed ``labels`` and merge them; call it under the lock."""
    labels.check(clip, where)
    version, replaced = merge_labels(work_dir, labels, awaiting)
    return ImportReport(imported=list(labels.objects),
                        empty=[k for k, objs in labels.objects.items() if not objs],
                        replaced=replaced, missing=missing_keys(work_dir),
                        version=version)


def open_query(work_dir: str) -> dict:
    """The open query, or :class:`LabelImportError` saying why there is none."""
    try:
        awaiting = read_awaiting(work_dir)
    except (FileNotFoundError, ValueError) as error:
        raise LabelImportError(str(error)) from None
    if not osp.isfile(labeled_path(work_dir)):
        raise LabelImportError(f'{labeled_path(work_dir)} does not exist; the '
                               'active learning run creates it')
    return awaiting


def import_labels(work_dir: str, path: str, fmt: str = 'auto',
                  clip: bool = False) -> ImportReport:
    """Check ``path`` against the open query and merge it into
    ``labels/labeled.json`` (a new version); on any problem raise
    :class:`LabelImportError` before writing anything. Waits for imports into
    the same work dir that started earlier."""
    # Everything is read under the lock: an import that waited merges into the
    # labels of the one before it.
    with import_lock(work_dir):
        awaiting = open_query(work_dir)
        labels, where = read_labels(path, awaiting, fmt)
        return import_checked(work_dir, labels, where, awaiting, clip)
