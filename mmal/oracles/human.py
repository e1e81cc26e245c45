"""A person labels the queried images with an annotation tool.

Files under the work dir:

- ``labels/labeled.json``: what the model trains on, a copy of the user's COCO
  annotation file that grows with every import (see
  :mod:`mmal.oracles.label_import`).
- ``queries/work_dir_id``: a random id, written once; exports carry
  ``<id>/<query>`` (``mmal_query``) so that an import can tell their work dir.
- ``queries/<query>/`` (``cycle_<k>``, or ``initial`` for a cold start): the
  export (see :mod:`mmal.oracles.export`) and ``contact_sheet.png``.

The open query itself is recorded once, in ``al_state.json`` (``awaiting``): its
items (``key``, ``score``, ``width``, ``height``, in query order) and, under
``oracle``, what reading labels for it needs::

    {"query_id": "<id>/cycle_<k>", "work_dir_id": "<id>",
     "task": "detection" | "pose" | "classification",
     "names": [category names, or keypoint names for pose],
     "img_root": "/abs/root/of/the/keys", "label_root": "/abs/root/of/labeled.json",
     "image_url_prefix": "/data/local-files/?d=", "document_root": "/abs/..."}
"""
import contextlib
import json
import os
import os.path as osp
import urllib.parse
import uuid
from typing import List, Optional, Sequence

from mmengine.dist import barrier, is_main_process
from mmengine.registry import DATASETS

from mmal.datasets import ActivePool, PoolLayout
from mmal.registry import ORACLES
from mmal.utils import InputError, write_atomic
from mmal.utils.dist import broadcast_from_rank0
from .awaiting import read_awaiting  # noqa: F401  (public here too)
from .base import BaseOracle, Query
from .export import write_query_files
from .images import check_key, image_size
from .labeled_set import import_lock, init_labels, labeled_path, missing_keys
from .tasks import AnnotationTask, get_task, task_of_model

def queries_dir(work_dir: str) -> str:
    return osp.join(work_dir, 'queries')


def query_dir(work_dir: str, name: str) -> str:
    """``queries/<name>``: ``name`` is ``cycle_<k>`` or ``initial``."""
    return osp.join(queries_dir(work_dir), name)


def work_dir_id(work_dir: str) -> str:
    """The work dir's id, created on first use."""
    path = osp.join(queries_dir(work_dir), 'work_dir_id')
    if not osp.isfile(path):
        write_atomic(uuid.uuid4().hex, path)
    with open(path) as f:
        return f.read().strip()


def image_urls(items: Sequence[dict], prefix: Optional[str],
               document_root: str) -> Optional[List[str]]:
    """``data.image`` of the Label Studio tasks: ``prefix`` + the path relative to
    ``document_root``, URL-quoted; None keeps the keys."""
    if prefix is None:
        return None
    return [prefix + urllib.parse.quote(
        osp.relpath(item['img_path'], document_root).replace(os.sep, '/'))
        for item in items]


def export_items(items: Sequence[dict], infos: Sequence[dict],
                 img_root: str) -> List[dict]:
    """The query items with their ``rank`` (1 = first), image path and displayed
    size (read from the image unless the data info has it)."""
    exported, seen = [], set()
    for rank, (item, info) in enumerate(zip(items, infos), 1):
        key = check_key(item['key'], 'key')
        if key in seen:
            raise ValueError(f'Image {key!r} is chosen twice')
        seen.add(key)
        img_path = info.get('img_path') or osp.join(img_root, key)
        if osp.abspath(osp.join(img_root, key)) != osp.abspath(img_path):
            raise ValueError(f'Key {key!r} is not the path of {img_path} relative '
                             f'to img_root {img_root}: keys must be relative to '
                             'img_root')
        width, height = info.get('width'), info.get('height')
        if width is None or height is None:
            width, height = image_size(img_path)
        exported.append(dict(rank=rank, key=key, img_path=img_path,
                             score=item.get('score'), width=int(width),
                             height=int(height)))
    return exported


@ORACLES.register_module()
class HumanOracle(BaseOracle):
    """Exports each query for a person and waits for ``tools/al_import.py``.

    The model trains on ``<work_dir>/labels/labeled.json``, a copy of the user's
    annotation file (``train_dataloader.dataset.ann_file``, never written to). The
    pool is ``train_cfg.unlabeled_dataset``, keyed by image path relative to its
    image folder, so images may be added between rounds. A query is written to
    ``queries/<query>/`` (``query.csv``, ``coco_predictions.json``,
    ``labelstudio_tasks.json``, ``labelstudio_config.xml``,
    ``contact_sheet.png``), and the run stops until the labels are imported.

    Without a labeled file (or with one that lists no image) a run starts cold:
    ``initial_size`` images chosen by ``train_cfg.initial_strategy`` are exported
    before any training (``queries/initial/``, no pre-annotations).

    Args:
        score_thr (float): Predictions below this score are not pre-annotated.
        image_url_prefix (str, optional): Label Studio's ``data.image`` is this
            plus the image path relative to ``document_root``. The default suits
            Label Studio's local file serving
            (``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true``,
            ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<document_root>``); use e.g.
            ``'http://host/images/'`` for images on a web server.
        document_root (str, optional): Defaults to the pool's image folder.
        contact_sheet (bool): Also draw ``contact_sheet.png``.
        max_contact_sheet (int): Images on the contact sheet at most (the first
            ones in query order).
    """

    fixed_pool = False

    def __init__(self, score_thr: float = 0.3,
                 image_url_prefix: Optional[str] = '/data/local-files/?d=',
                 document_root: Optional[str] = None, contact_sheet: bool = True,
                 max_contact_sheet: int = 64):
        self.score_thr = score_thr
        self.image_url_prefix = image_url_prefix
        self.document_root = document_root
        self.contact_sheet = contact_sheet
        self.max_contact_sheet = max_contact_sheet

    # What the model trains on, and the pool.
    def setup(self, runner, train_dataset_cfg, unlabeled_dataset_cfg,
              initial_size):
        if unlabeled_dataset_cfg is None:
            raise InputError(
                f'{type(self).__name__} labels the images of '
                'train_cfg.unlabeled_dataset, which is not set. Write an '
                'image-only COCO file of your folder with tools/images_to_coco.py '
                "IMAGE_DIR unlabeled.json and set e.g. unlabeled_dataset=dict("
                "type='CocoDataset', data_root=IMAGE_DIR, ann_file='unlabeled.json'"
                ", data_prefix=dict(img=''), filter_cfg=dict(filter_empty_gt=False))")
        if 'ann_file' not in train_dataset_cfg:
            raise InputError(
                f'With {type(self).__name__}, train_dataloader.dataset must be one '
                'dataset with an ann_file (e.g. CocoDataset on your labeled COCO '
                f'file), not a {train_dataset_cfg.get("type")}')
        check_pool_files(unlabeled_dataset_cfg)
        self.runner = runner
        self.work_dir = runner.work_dir
        ann_file = train_dataset_cfg['ann_file']
        root = train_dataset_cfg.get('data_root') or ''
        user_file = ann_file if osp.isabs(ann_file) else osp.join(root, ann_file)
        if is_main_process():
            init_labels(self.work_dir, user_file, empty=initial_size is not None)
        barrier()
        labeled_images = broadcast_from_rank0(self._labeled_file_names)
        # A resumed cold start has the labels its queries brought.
        resumed = broadcast_from_rank0(lambda: osp.isfile(
            osp.join(self.work_dir, 'al_state.json')))
        if initial_size is not None and labeled_images and not resumed:
            raise InputError(
                f'initial_size={initial_size} chooses the first images to label '
                f'(a cold start), but {labeled_path(self.work_dir)} has '
                f'{len(labeled_images)} labeled images already. Remove it: '
                '--cfg-options train_cfg.initial_size=None')
        if initial_size is None and not labeled_images:
            raise InputError(
                f'{user_file} lists no labeled image, so there is nothing to train '
                'on. Start cold: set train_cfg.initial_size (the images to label '
                'first) and, to choose them without labels, '
                "train_cfg.initial_strategy=dict(type='TypiClustStrategy')")
        self._labeled_cfg = dict(train_dataset_cfg,
                                 ann_file=osp.abspath(labeled_path(self.work_dir)))
        if not labeled_images:
            # mmengine cannot serialize an empty data list (a cold start).
            self._labeled_cfg['serialize_data'] = False
        self._pool_cfg = unlabeled_dataset_cfg

    def _labeled_file_names(self) -> List[str]:
        with open(labeled_path(self.work_dir)) as f:
            return [image['file_name'] for image in json.load(f)['images']]

    def pool_dataset_cfg(self):
        return self._pool_cfg

    def labeled_dataset_cfg(self):
        return self._labeled_cfg

    def labeled_dataset_grows(self):
        return True  # labeled.json grows with every import

    def training_indices(self, pool, dataset):
        return range(len(dataset))

    def num_labeled(self, pool, dataset):
        return len(dataset)

    def centers_dataset_cfg(self):
        # Also the user's own labeled images, which are not pool samples.
        return self._labeled_cfg

    def pool_layout(self, labeled_dataset, key_field):
        self.label_root = image_root(labeled_dataset)
        pool_dataset = DATASETS.build(self._pool_cfg)
        self.img_root = image_root(pool_dataset)
        self._pool_metainfo = pool_dataset.metainfo
        # Top-down pose lists each person box of an image (a detector's
        # bbox_file) as a sample: the image, labeled as a whole, is the key.
        layout = PoolLayout(pool_dataset, 'img_path', key_root=self.img_root,
                            merge_same_keys=True)
        # An image listed outside the folder fails before any training.
        ann_file = getattr(pool_dataset, 'ann_file', 'the pool file')
        for key in layout.keys:
            try:
                check_key(key, 'image')
            except ValueError as error:
                raise InputError(
                    f'train_cfg.unlabeled_dataset.ann_file {ann_file}: {error} '
                    f'(the folder is {self.img_root}); list the folder again with '
                    f'python tools/images_to_coco.py {self.img_root} {ann_file}'
                ) from None
        return layout

    def labeled_keys(self, pool: ActivePool) -> List[str]:
        """Pool images that the labeled set has already (the user's own labeled
        images often sit in the same folder)."""
        known = {osp.abspath(osp.join(self.label_root, name))
                 for name in broadcast_from_rank0(self._labeled_file_names)}
        keys = [pool.layout.keys[i] for i in pool.unlabeled_indices()]
        return [key for key in keys
                if osp.abspath(osp.join(self.img_root, key)) in known]

    # Queries.
    def deliver(self, query: Query) -> dict:
        infos = query.image_infos()

        def export():
            items = export_items(query.items, infos, self.img_root)
            predictions = query.predictions() if query.predictions else None
            task = task_of_model(self.runner.model, predictions)
            self.export(query.name, items, predictions, query.metainfo(), task)
            return task.name, [(item['width'], item['height']) for item in items]

        # Rank 0 exports (the predictions are its own); every rank records.
        task, sizes = broadcast_from_rank0(export)
        task = get_task(task)
        for item, (width, height) in zip(query.items, sizes):
            item.update(width=width, height=height)
        return self.handed_over(query.name, task, query.metainfo())

    def handed_over(self, name: str, task: AnnotationTask, metainfo: dict
                    ) -> dict:
        """The ``oracle`` part of the open query's record (see the module
        docstring)."""
        wid = broadcast_from_rank0(lambda: work_dir_id(self.work_dir))
        return dict(query_id=f'{wid}/{name}', work_dir_id=wid, task=task.name,
                    names=task.label_names(metainfo),
                    img_root=osp.abspath(self.img_root),
                    label_root=osp.abspath(self.label_root),
                    image_url_prefix=self.image_url_prefix,
                    document_root=osp.abspath(self._document_root()))

    def export(self, name: str, items: List[dict], predictions: Optional[list],
               metainfo: dict, task: AnnotationTask) -> str:
        """Write ``queries/<name>/``; ``items`` are :func:`export_items`, and
        ``predictions`` the model's data samples for them (None: no
        pre-annotations). Returns the folder."""
        out_dir = query_dir(self.work_dir, name)
        write_query_files(
            out_dir, task, items, predictions, metainfo, self.query_id(name),
            self.score_thr,
            image_urls(items, self.image_url_prefix, self._document_root()))
        if self.contact_sheet:
            from .contact_sheet import write_contact_sheet
            count = self.max_contact_sheet
            write_contact_sheet(osp.join(out_dir, 'contact_sheet.png'), task,
                                items[:count],
                                None if predictions is None else predictions[:count],
                                metainfo, self.score_thr)
        return out_dir

    def query_id(self, name: str) -> str:
        return f'{work_dir_id(self.work_dir)}/{name}'

    def attach(self, work_dir: str, img_root: str, label_root: str) -> None:
        """Work on ``work_dir`` with the pool's and the labeled set's image
        folders, without a run (what :meth:`setup` and :meth:`pool_layout` set;
        for tools and tests)."""
        self.work_dir, self.img_root, self.label_root = work_dir, img_root, label_root

    def _document_root(self) -> str:
        return self.document_root or self.img_root

    def labels_lock(self):
        # An import running now finishes before the labels are taken; one
        # started later finds the query closed.
        return (import_lock(self.work_dir) if is_main_process() else
                contextlib.nullcontext())

    def collect(self, awaiting, allow_partial, logger):
        """The images still without labels go back to the pool with
        ``allow_partial``, else the run stops with the command to import them."""
        missing = broadcast_from_rank0(lambda: missing_keys(self.work_dir))
        if missing and not allow_partial:
            raise InputError(
                f'{len(missing)} of the {len(awaiting["queried"])} queried images '
                f'have no labels yet (e.g. {missing[:3]}). Import them with python '
                f'tools/al_import.py {self.work_dir} LABELS.json, or resume with '
                '--allow-partial to train without them (they go back to the pool)')
        if missing:
            logger.warning(f'{len(missing)} queried images without labels go back '
                           'to the pool (--allow-partial)')
        return missing

    def awaited_message(self, awaiting, config):
        name = 'initial' if awaiting['cycle'] is None else f'cycle_{awaiting["cycle"]}'
        return (f'{len(awaiting["queried"])} images of {name} await labels; the '
                f'query is in {query_dir(self.work_dir, name)} (query.csv, '
                'coco_predictions.json, labelstudio_tasks.json + '
                'labelstudio_config.xml, contact_sheet.png).\nLabel them, then:\n'
                f'  python tools/al_import.py {self.work_dir} LABELS.json\n'
                f'  python tools/al_train.py {config} --work-dir {self.work_dir} '
                '--resume')


def check_pool_files(pool_dataset_cfg: dict) -> None:
    """Fail with the command that writes them if the pool's image list or its
    person boxes (top-down pose) are missing."""
    root = pool_dataset_cfg.get('data_root') or ''
    ann_file = osp.join(root, pool_dataset_cfg.get('ann_file') or '')
    image_dir = root or 'IMAGE_DIR'
    if pool_dataset_cfg.get('ann_file') and not osp.isfile(ann_file):
        raise InputError(
            f'train_cfg.unlabeled_dataset.ann_file {ann_file} does not exist: write '
            f'it with python tools/images_to_coco.py {image_dir} {ann_file}')
    bbox_file = pool_dataset_cfg.get('bbox_file')
    if not bbox_file:
        return
    rerun = ('python tools/detect_people.py DET_CONFIG DET_CHECKPOINT '
             f'{image_dir} {ann_file} {bbox_file}')
    if not osp.isfile(bbox_file):
        raise InputError(
            f'train_cfg.unlabeled_dataset.bbox_file {bbox_file} does not exist: '
            f'write the person boxes of the unlabeled images with {rerun}')
    # Boxes point at images by id, and images_to_coco.py numbers the images
    # anew: boxes of an older image list would land on other images.
    with open(ann_file) as f:
        names = {image['id']: image['file_name'] for image in json.load(f)['images']}
    with open(bbox_file) as f:
        stale = [box for box in json.load(f) if 'file_name' in box
                 and names.get(box['image_id']) != box['file_name']]
    if stale:
        box = stale[0]
        raise InputError(
            f'{bbox_file} was written for another list of images than {ann_file}: '
            f'{len(stale)} boxes point at other images now (image id '
            f'{box["image_id"]} is {names.get(box["image_id"])!r}, the boxes were '
            f'found in {box["file_name"]!r}). Write them again: {rerun}')


def image_root(dataset) -> str:
    """The folder a dataset's image paths start from (data_root + prefix)."""
    prefix = dataset.data_prefix
    return prefix.get('img') or prefix.get('img_path') or dataset.data_root
