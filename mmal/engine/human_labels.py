import json
import os.path as osp
from typing import List, Optional

from mmengine.dist import barrier, is_main_process
from mmengine.registry import DATASETS

from mmal.datasets import ActivePool, PoolLayout
from mmal.oracles import (HumanOracle, LabelsAwaited, close_query, init_labels,
                          labeled_path, missing_keys)
from mmal.utils.dist import broadcast_from_rank0


class HumanLabels:
    """The data of a run whose labels come from a person (``HumanOracle``).

    The model trains on ``<work_dir>/labels/labeled.json``: a copy of the user's
    annotation file (``train_dataloader.dataset.ann_file``, never written to) that
    grows with every ``tools/al_import.py``. The pool is
    ``train_cfg.unlabeled_dataset``, keyed by image path relative to its image
    folder, so images may be added between rounds.

    Args:
        work_dir (str): The run's work dir.
        pool_dataset_cfg (dict): ``train_cfg.unlabeled_dataset``.
        training_dataset: The built dataset of the labeled copy.
    """

    def __init__(self, work_dir: str, pool_dataset_cfg: dict, training_dataset):
        self.work_dir = work_dir
        check_pool_files(pool_dataset_cfg)
        self.pool_dataset = DATASETS.build(pool_dataset_cfg)
        self.img_root = image_root(self.pool_dataset)
        self.label_root = image_root(training_dataset)

    @staticmethod
    def check_settings(oracle, unlabeled_dataset: Optional[dict],
                       initial_size: Optional[int]) -> bool:
        """Whether labels come from a person; fails on settings that mix modes."""
        human = isinstance(oracle, HumanOracle)
        if human and unlabeled_dataset is None:
            raise ValueError(
                'HumanOracle labels the images of train_cfg.unlabeled_dataset, which '
                'is not set. Write an image-only COCO file of your folder with '
                'tools/images_to_coco.py IMAGE_DIR unlabeled.json and set e.g. '
                "unlabeled_dataset=dict(type='CocoDataset', data_root=IMAGE_DIR, "
                "ann_file='unlabeled.json', data_prefix=dict(img=''), "
                'filter_cfg=dict(filter_empty_gt=False))')
        if not human and unlabeled_dataset is not None:
            raise ValueError(
                'train_cfg.unlabeled_dataset holds images for a person to label: set '
                "train_cfg.oracle=dict(type='HumanOracle'), or remove "
                'unlabeled_dataset to simulate on train_dataloader.dataset')
        if human and initial_size is not None:
            raise ValueError(
                f'initial_size={initial_size} has no meaning with HumanOracle: the '
                'labeled set is given (train_dataloader.dataset, your annotation '
                'file). Remove it: --cfg-options train_cfg.initial_size=None')
        return human

    @staticmethod
    def training_dataset(labeled_cfg: dict, work_dir: str) -> dict:
        """The training dataset config on the work dir's copy of the labels."""
        if 'ann_file' not in labeled_cfg:
            raise ValueError(
                'With HumanOracle, train_dataloader.dataset must be one dataset with '
                'an ann_file (e.g. CocoDataset on your labeled COCO file), not a '
                f'{labeled_cfg.get("type")}')
        ann_file, root = labeled_cfg['ann_file'], labeled_cfg.get('data_root') or ''
        user_file = ann_file if osp.isabs(ann_file) else osp.join(root, ann_file)
        if is_main_process():
            init_labels(work_dir, user_file)
        barrier()
        return dict(labeled_cfg, ann_file=osp.abspath(labeled_path(work_dir)))

    def pool_layout(self) -> PoolLayout:
        # Top-down pose lists each person box of an image (a detector's
        # bbox_file) as a sample: the image, labeled as a whole, is the key.
        return PoolLayout(self.pool_dataset, 'img_path', key_root=self.img_root,
                          merge_same_keys=True)

    def sync(self, pool: ActivePool) -> None:
        """Count pool images that the labeled set already has (the user's own
        labeled images often sit in the same folder) as labeled."""

        def labeled_files():
            with open(labeled_path(self.work_dir)) as f:
                return [image['file_name'] for image in json.load(f)['images']]

        known = {osp.abspath(osp.join(self.label_root, name))
                 for name in broadcast_from_rank0(labeled_files)}
        unlabeled = pool.unlabeled_indices()
        keys = [pool.layout.keys[i] for i in unlabeled]
        pool.label_keys([key for key in keys
                         if osp.abspath(osp.join(self.img_root, key)) in known])

    def export(self, oracle, query, pool: ActivePool, cycle: int,
               queried: List[dict]) -> LabelsAwaited:
        """Hand the chosen images and the model's predictions to the oracle."""
        scorer = query.scorer(pool)
        positions = [pool.layout.position[item['key']] for item in queried]
        chosen = []
        for item, position in zip(queried, positions):
            info = scorer.dataset.get_data_info(int(pool.layout.first_indices[position]))
            chosen.append(dict(item, img_path=info['img_path'],
                               width=info.get('width'), height=info.get('height')))
        return oracle.label(self.work_dir, cycle, chosen, scorer.predict(positions),
                            scorer.dataset.metainfo, img_root=self.img_root,
                            label_root=self.label_root)

    def take(self, pool: ActivePool, allow_partial: bool, logger) -> None:
        """Record the imported labels of the open query; the images still without
        labels go back to the pool with ``allow_partial``, else the run stops."""
        record = pool.history[-1]
        awaiting = record['awaiting']
        missing = broadcast_from_rank0(lambda: missing_keys(self.work_dir))
        if missing and not allow_partial:
            raise RuntimeError(
                f'{len(missing)} of the {len(awaiting["queried"])} queried images '
                f'have no labels yet (e.g. {missing[:3]}). Import them with python '
                f'tools/al_import.py {self.work_dir} LABELS.json, or resume with '
                '--allow-partial to train without them (they go back to the pool)')
        if missing:
            logger.warning(f'{len(missing)} queried images without labels go back '
                           'to the pool (--allow-partial)')
        returned = set(missing)
        del record['awaiting']
        pool.record_query([q for q in awaiting['queried'] if q['key'] not in returned],
                          awaiting['query_size'], awaiting['subset_size'])
        record['returned_to_pool'] = missing
        # The state first: a crash before the close leaves the query open, not lost.
        pool.save()
        if is_main_process():
            close_query(self.work_dir)
        barrier()


def check_pool_files(pool_dataset_cfg: dict) -> None:
    """Fail with the command that writes them if the pool's image list or its
    person boxes (top-down pose) are missing."""
    root = pool_dataset_cfg.get('data_root') or ''
    ann_file = osp.join(root, pool_dataset_cfg.get('ann_file') or '')
    image_dir = root or 'IMAGE_DIR'
    if pool_dataset_cfg.get('ann_file') and not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'train_cfg.unlabeled_dataset.ann_file {ann_file} does not exist: write '
            f'it with python tools/images_to_coco.py {image_dir} {ann_file}')
    bbox_file = pool_dataset_cfg.get('bbox_file')
    if not bbox_file:
        return
    rerun = ('python tools/detect_people.py DET_CONFIG DET_CHECKPOINT '
             f'{image_dir} {ann_file} {bbox_file}')
    if not osp.isfile(bbox_file):
        raise FileNotFoundError(
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
        raise ValueError(
            f'{bbox_file} was written for another list of images than {ann_file}: '
            f'{len(stale)} boxes point at other images now (image id '
            f'{box["image_id"]} is {names.get(box["image_id"])!r}, the boxes were '
            f'found in {box["file_name"]!r}). Write them again: {rerun}')


def image_root(dataset) -> str:
    """The folder a dataset's image paths start from (data_root + prefix)."""
    prefix = dataset.data_prefix
    return prefix.get('img') or prefix.get('img_path') or dataset.data_root
