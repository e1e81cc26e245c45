"""A person labels the queried images with an annotation tool.

Files under the work dir:

- ``queries/work_dir_id``: a random id, written once; exports carry
  ``<id>/cycle_<k>`` (``mmal_query``) so that an import can tell their work dir.
- ``queries/cycle_<k>/``: the export (see :mod:`mmal.oracles.export`) and
  ``contact_sheet.png``.
- ``queries/awaiting.json``: the open query, read by ``tools/al_import.py``::

    {"version": 1, "work_dir_id": "...", "cycle": k, "query_id": "<id>/cycle_<k>",
     "task": "detection" | "pose" | "classification",
     "names": [category names, or keypoint names for pose],
     "img_root": "/abs/root/of/the/keys", "label_root": "/abs/root/of/labeled.json",
     "image_url_prefix": "/data/local-files/?d=", "document_root": "/abs/...",
     "items": [{"rank": 1, "key": "a/b.jpg", "img_path": "/abs/...",
                "score": 0.9 | null, "width": W, "height": H}, ...]}

  :func:`close_query` moves it to ``queries/cycle_<k>/awaiting.json`` once the
  loop has taken the labels.
- ``labels/labeled.json``: the labeled set (see :mod:`mmal.oracles.label_import`).
"""
import json
import os
import os.path as osp
import urllib.parse
import uuid
from typing import List, Optional, Sequence

from mmal.registry import ORACLES
from mmal.utils import dump_json_atomic, write_atomic
from .base import BaseOracle, LabelsAwaited
from .export import TASKS, infer_task, label_names, write_query_files
from .images import check_key, image_size

AWAITING_VERSION = 1


def queries_dir(work_dir: str) -> str:
    return osp.join(work_dir, 'queries')


def query_dir(work_dir: str, cycle: int) -> str:
    return osp.join(queries_dir(work_dir), f'cycle_{cycle}')


def awaiting_path(work_dir: str) -> str:
    return osp.join(queries_dir(work_dir), 'awaiting.json')


def work_dir_id(work_dir: str) -> str:
    """The work dir's id, created on first use."""
    path = osp.join(queries_dir(work_dir), 'work_dir_id')
    if not osp.isfile(path):
        write_atomic(uuid.uuid4().hex, path)
    with open(path) as f:
        return f.read().strip()


def query_items(chosen: Sequence[dict]) -> List[dict]:
    """The chosen samples with their ``rank`` (1 = first) and displayed size (read
    from the image unless ``width``/``height`` are given)."""
    items, seen = [], set()
    for rank, item in enumerate(chosen, 1):
        key = check_key(item['key'], 'key')
        if key in seen:
            raise ValueError(f'Image {key!r} is chosen twice')
        seen.add(key)
        width, height = item.get('width'), item.get('height')
        if width is None or height is None:
            width, height = image_size(item['img_path'])
        items.append(dict(rank=rank, key=key, img_path=item['img_path'],
                          score=item.get('score'), width=int(width),
                          height=int(height)))
    return items


def write_awaiting(work_dir: str, cycle: int, task: str, items: Sequence[dict],
                   names: Sequence[str], img_root: str, label_root: str,
                   image_url_prefix: Optional[str] = None,
                   document_root: Optional[str] = None) -> str:
    """Record the open query (``queries/awaiting.json``); returns its path."""
    if task not in TASKS:
        raise ValueError(f'task={task!r}; choose one of {TASKS}')
    wid = work_dir_id(work_dir)
    path = awaiting_path(work_dir)
    dump_json_atomic(dict(
        version=AWAITING_VERSION, work_dir_id=wid, cycle=cycle,
        query_id=f'{wid}/cycle_{cycle}', task=task, names=list(names),
        img_root=osp.abspath(img_root), label_root=osp.abspath(label_root),
        image_url_prefix=image_url_prefix,
        document_root=osp.abspath(document_root or img_root),
        items=[dict(item) for item in items]), path)
    return path


def read_awaiting(work_dir: str) -> dict:
    """The open query; fails clearly when there is none or the file is damaged."""
    path = awaiting_path(work_dir)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'No query awaits labels in {work_dir} ({path} does not exist): run '
            "tools/al_train.py with train_cfg.oracle=dict(type='HumanOracle') first")
    try:
        with open(path) as f:
            awaiting = json.load(f)
        if awaiting['version'] != AWAITING_VERSION:
            raise ValueError(f'version {awaiting["version"]} is not '
                             f'{AWAITING_VERSION}')
        for field in ('work_dir_id', 'cycle', 'query_id', 'task', 'names',
                      'img_root', 'label_root', 'items'):
            awaiting[field]  # noqa: B018  (fails on a missing field)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f'{path} is damaged ({type(error).__name__}: {error}); '
                         'rerun tools/al_train.py --resume to export the query '
                         'again') from None
    return awaiting


def close_query(work_dir: str) -> None:
    """The loop has taken the labels: keep ``awaiting.json`` with its query, so
    that later imports are refused instead of changing a finished cycle."""
    awaiting = read_awaiting(work_dir)
    os.replace(awaiting_path(work_dir),
               osp.join(query_dir(work_dir, awaiting['cycle']), 'awaiting.json'))


def image_urls(items: Sequence[dict], prefix: Optional[str],
               document_root: str) -> Optional[List[str]]:
    """``data.image`` of the Label Studio tasks: ``prefix`` + the path relative to
    ``document_root``, URL-quoted; None keeps the keys."""
    if prefix is None:
        return None
    return [prefix + urllib.parse.quote(
        osp.relpath(item['img_path'], document_root).replace(os.sep, '/'))
        for item in items]


@ORACLES.register_module()
class HumanOracle(BaseOracle):
    """Exports the query for a person and waits for ``tools/al_import.py``.

    ``label(work_dir, cycle, chosen, predictions, metainfo, img_root, label_root,
    task=None)`` writes ``queries/cycle_<k>/`` (``query.csv``,
    ``coco_predictions.json``, ``labelstudio_tasks.json``,
    ``labelstudio_config.xml``, ``contact_sheet.png``) and then
    ``queries/awaiting.json``, and returns :class:`LabelsAwaited`.
    ``img_root`` is the folder the pool's keys are relative to (data_root +
    data_prefix.img of ``train_cfg.unlabeled_dataset``), ``label_root`` the same
    for the labeled set; ``task`` defaults to what the predictions show.

    Args:
        score_thr (float): Predictions below this score are not pre-annotated.
        image_url_prefix (str, optional): Label Studio's ``data.image`` is this
            plus the image path relative to ``document_root``. The default suits
            Label Studio's local file serving
            (``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true``,
            ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<document_root>``); use e.g.
            ``'http://host/images/'`` for images on a web server.
        document_root (str, optional): Defaults to ``img_root``.
        contact_sheet (bool): Also draw ``contact_sheet.png``.
        max_contact_sheet (int): Images on the contact sheet at most (the first
            ones in query order).
    """

    def __init__(self, score_thr: float = 0.3,
                 image_url_prefix: Optional[str] = '/data/local-files/?d=',
                 document_root: Optional[str] = None, contact_sheet: bool = True,
                 max_contact_sheet: int = 64):
        self.score_thr = score_thr
        self.image_url_prefix = image_url_prefix
        self.document_root = document_root
        self.contact_sheet = contact_sheet
        self.max_contact_sheet = max_contact_sheet

    def label(self, work_dir, cycle, chosen, predictions=None, metainfo=None,
              img_root=None, label_root=None, task=None, **kwargs):
        if img_root is None or label_root is None:
            raise ValueError('HumanOracle.label needs img_root and label_root, the '
                             'folders the pool keys and labeled.json paths are '
                             'relative to')
        if predictions is None:
            raise ValueError('HumanOracle.label needs the predictions of the chosen '
                             'images (one data sample, or list, per image)')
        items = query_items(chosen)
        for item in items:
            if osp.abspath(osp.join(img_root, item['key'])) != osp.abspath(
                    item['img_path']):
                raise ValueError(f'Key {item["key"]!r} is not the path of '
                                 f'{item["img_path"]} relative to img_root '
                                 f'{img_root}: keys must be relative to img_root')
        task = task or infer_task(predictions[0])
        out_dir = query_dir(work_dir, cycle)
        document_root = self.document_root or img_root
        query_id = f'{work_dir_id(work_dir)}/cycle_{cycle}'
        write_query_files(
            out_dir, task, items, predictions, metainfo, query_id, self.score_thr,
            image_urls(items, self.image_url_prefix, document_root))
        if self.contact_sheet:
            from .contact_sheet import write_contact_sheet
            write_contact_sheet(osp.join(out_dir, 'contact_sheet.png'), task,
                                items[:self.max_contact_sheet],
                                predictions[:self.max_contact_sheet], metainfo,
                                self.score_thr)
        # Last: the query is open only once its export is complete.
        write_awaiting(work_dir, cycle, task, items, label_names(task, metainfo),
                       img_root, label_root, self.image_url_prefix, document_root)
        return LabelsAwaited(cycle=cycle, keys=[item['key'] for item in items],
                             query_dir=out_dir, work_dir=work_dir)
