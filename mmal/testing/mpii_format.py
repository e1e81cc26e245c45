"""An MPII dataset generated on the fly in mmpose's on-disk format.

``write_mpii`` writes what mmpose's ``MpiiDataset`` and ``MpiiPCKAccuracy`` read::

    root/images/<9 digits>.jpg
    root/annotations/mpii_train.json   list of {image, center, scale, joints,
    root/annotations/mpii_val.json      joints_vis}, one per person (1-based pixels)
    root/annotations/mpii_gt_val.mat   headboxes_src (2, 2, N), pos_gt_src
                                       (16, 2, N), jnt_missing (16, N),
                                       dataset_joints, in val-json order

Each image shows one stick figure whose 16 joints are discs of distinct colours, on
noise: learnable, not trivially.
"""
import json
import os
import os.path as osp
from typing import Dict, Sequence

import cv2
import numpy as np
from scipy.io import loadmat, savemat

# MPII joint order and the short names of the real mpii_gt_val.mat.
JOINT_NAMES = ('rank', 'rkne', 'rhip', 'lhip', 'lkne', 'lank', 'pelv', 'thor',
               'neck', 'head', 'rwri', 'relb', 'rsho', 'lsho', 'lelb', 'lwri')
# A standing person in box units (x right, y down, box side 1, centre 0).
TEMPLATE = np.array([
    [-0.10, 0.45], [-0.09, 0.25], [-0.08, 0.05], [0.08, 0.05], [0.09, 0.25],
    [0.10, 0.45], [0.00, 0.05], [0.00, -0.25], [0.00, -0.30], [0.00, -0.45],
    [-0.25, 0.08], [-0.22, -0.08], [-0.15, -0.25], [0.15, -0.25], [0.22, -0.08],
    [0.25, 0.08]
])
LIMBS = ((0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
         (10, 11), (11, 12), (12, 7), (7, 13), (13, 14), (14, 15))
# The head box, in box units, that mpii_gt_val.mat gives for the figure.
HEAD_BOX = np.array([[-0.08, -0.47], [0.08, -0.29]])
IMAGE_SIZE = 128
BOX_SIZE = 100.  # pixels; MPII scale = box / 200
SC_BIAS = 0.6  # mmpose's head-size factor of the box diagonal


def _person(rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """Joints and head box (0-based pixels) of one jittered figure."""
    centre = IMAGE_SIZE / 2 + rng.uniform(-6, 6, size=2)
    size = BOX_SIZE * rng.uniform(0.85, 1.0)
    joints = centre + size * (TEMPLATE + rng.normal(0, 0.02, TEMPLATE.shape))
    return dict(centre=centre, size=size, joints=joints,
                head_box=centre + size * HEAD_BOX)


def _draw(person: Dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    image = rng.integers(0, 80, size=(IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.uint8)
    points = np.round(person['joints']).astype(int)
    for a, b in LIMBS:
        cv2.line(image, tuple(map(int, points[a])), tuple(map(int, points[b])),
                 (160, 160, 160), 2)
    for k, point in enumerate(points):
        colour = (40 + 13 * k, 255 - 13 * k, (97 * k) % 256)
        cv2.circle(image, tuple(map(int, point)), 3, colour, -1)
    return image


def write_mpii(root: str, num_train: int, num_val: int, seed: int = 0,
               invisible_train: Sequence[int] = ()) -> str:
    """Write an MPII-format dataset under ``root``; returns ``root``.

    Args:
        root (str): Dataset folder (mmpose's ``data_root``).
        num_train (int): Training persons (one per image).
        num_val (int): Validation persons, with head boxes.
        seed (int): Random seed. Defaults to 0.
        invisible_train (Sequence[int]): Training persons whose joints are all
            marked invisible (``joints_vis`` 0). Their coordinates stay: mmpose
            drops a person whose joints are all at -1 (MPII's "not annotated").
    """
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)

    def split(name: str, count: int, first_image: int, invisible=()):
        annotations, people = [], []
        for n in range(count):
            person = _person(rng)
            image = f'{first_image + n:09d}.jpg'
            cv2.imwrite(osp.join(root, 'images', image), _draw(person, rng))
            visible = np.zeros(16) if n in invisible else np.ones(16)
            # MPII is 1-based (MATLAB); mmpose subtracts 1 from the centre.
            joints = person['joints'] + 1
            annotations.append(dict(
                joints_vis=visible.astype(int).tolist(),
                joints=joints.round(2).tolist(),
                image=image,
                scale=round(person['size'] / 200., 4),
                center=(person['centre'] + 1).round(2).tolist()))
            people.append(dict(person, visible=visible, joints=joints))
        with open(osp.join(root, 'annotations', f'mpii_{name}.json'), 'w') as f:
            json.dump(annotations, f)
        return people

    split('train', num_train, 1, invisible_train)
    val = split('val', num_val, 500001)
    savemat(osp.join(root, 'annotations', 'mpii_gt_val.mat'), dict(
        headboxes_src=np.stack([p['head_box'] + 1 for p in val], axis=2),
        pos_gt_src=np.stack([p['joints'] for p in val], axis=2),
        jnt_missing=np.stack([1 - p['visible'] for p in val], axis=1),
        dataset_joints=np.array([[name] for name in JOINT_NAMES],
                                dtype=object).T))
    return root


def head_sizes(root: str) -> np.ndarray:
    """PCKh normalisers of the val persons as the real file defines them, read back
    independently of mmpose."""
    boxes = loadmat(osp.join(root, 'annotations', 'mpii_gt_val.mat'))['headboxes_src']
    return SC_BIAS * np.linalg.norm(boxes[1] - boxes[0], axis=0)
