"""A user's folder for classification human rounds with
``configs/human/resnet18_folder_lloss.py`` (shrunk: 32x32 inputs, a narrow
ResNet-18): pool images, the user's labeled COCO file, and the query's
``coco_predictions.json`` answered and imported as COCO."""
import json
import os
import os.path as osp
from typing import Callable, List, Optional, Sequence

import numpy as np
from PIL import Image

from mmal.oracles.formats import query_csv
from mmal.testing.al_runs import run_tool, write_config
from mmal.testing.coco_format import write_image_folder

SMALL = """
data_root = '{root}/'
pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(32, 32)),
            dict(type='PackInputs')]
model = dict(
    target=dict(backbone=dict(stem_channels=8, base_channels=8),
                head=dict(in_channels=64)),
    head=dict(in_channels=[8, 16, 32, 64], mid_channels=16))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=pipeline))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=pipeline))
test_dataloader = val_dataloader
train_cfg = dict(cycles=2, query_size=2, subset_size=6, max_epochs=1,
                 unlabeled_dataset=dict(data_root=data_root, pipeline=pipeline))
"""
LABELED = 4


def labeled_image(i: int) -> np.ndarray:
    """The user's labeled image ``i``: one flat colour per class."""
    return np.full((40, 50, 3), 60 * (i % 2) + 40, np.uint8)


def labeled_name(i: int) -> str:
    return f'labeled/{("cat", "dog")[i % 2]}_{i}.png'


def write_labeled(root: str) -> None:
    """The user's 4 labeled images, 2 of each class, as a COCO file (also the
    validation file)."""
    images, annotations = [], []
    os.makedirs(osp.join(root, 'labeled'), exist_ok=True)
    for i in range(LABELED):
        Image.fromarray(labeled_image(i)).save(osp.join(root, labeled_name(i)))
        images.append(dict(id=i + 1, file_name=labeled_name(i), width=50, height=40))
        annotations.append(dict(id=i + 1, image_id=i + 1, category_id=i % 2 + 1))
    coco = dict(images=images, annotations=annotations,
                categories=[dict(id=1, name='cat'), dict(id=2, name='dog')])
    for name in ('labeled.json', 'val.json'):
        with open(osp.join(root, name), 'w') as f:
            json.dump(coco, f)


def write_folder(root: str, copies: Sequence[int] = ()) -> str:
    """``root`` with the pool images (``unlabeled.json``), then the labeled ones
    outside the pool; ``copies``: labeled images also in the pool, as
    ``a_copy/<i>.png`` (first in pool order). Returns ``root``."""
    write_image_folder(root)
    for i in copies:
        os.makedirs(osp.join(root, 'a_copy'), exist_ok=True)
        Image.fromarray(labeled_image(i)).save(osp.join(root, 'a_copy', f'{i}.png'))
    run_tool('images_to_coco.py', root, osp.join(root, 'unlabeled.json'))
    write_labeled(root)
    return root


def small_config(path: str, root: str) -> str:
    return write_config(path, 'human/resnet18_folder_lloss.py',
                        SMALL.format(root=root))


def pool_keys(root: str) -> List[str]:
    """The pool's keys in pool order (``unlabeled.json``'s)."""
    with open(osp.join(root, 'unlabeled.json')) as f:
        return [image['file_name'] for image in json.load(f)['images']]


def query_rows(work_dir: str, cycle: int) -> List[dict]:
    return query_csv.read(osp.join(work_dir, 'queries', f'cycle_{cycle}',
                                   'query.csv'))


def exported_predictions(work_dir: str, cycle: int) -> dict:
    path = osp.join(work_dir, 'queries', f'cycle_{cycle}', 'coco_predictions.json')
    with open(path) as f:
        return json.load(f)


def answer_query(work_dir: str, cycle: int, labels_path: str,
                 correct: Optional[Callable[[dict], None]] = None) -> dict:
    """The annotator takes the exported predictions (``correct`` may change
    them) and imports them with ``tools/al_import.py``; returns what was
    imported."""
    coco = exported_predictions(work_dir, cycle)
    if correct is not None:
        correct(coco)
    with open(labels_path, 'w') as f:
        json.dump(coco, f)
    run_tool('al_import.py', work_dir, labels_path)
    return coco
