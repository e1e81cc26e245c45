"""A PASCAL VOC devkit generated on the fly, read by mmdet's own ``VOCDataset``.

``write_voc`` lays out ``VOCdevkit/VOC2007`` and ``VOCdevkit/VOC2012`` as the real
devkit does (``JPEGImages/*.jpg``, ``Annotations/*.xml``,
``ImageSets/Main/{trainval,test}.txt``), with JPEGs of several sizes, several objects
per image and ``difficult`` objects, including an image whose only object is
difficult (it passes mmdet's empty-gt filter but gives SSD no positives).
"""
import os
import os.path as osp
from typing import Dict, List
from xml.etree import ElementTree as ET

import cv2
import numpy as np

CLASSES = ('bird', 'car', 'cat', 'dog', 'person')
SIZES = ((320, 240), (240, 320), (224, 224), (288, 192), (200, 260))
# Image with a single, difficult object: (year, position in its trainval list).
DIFFICULT_ONLY = ('VOC2007', 1)


def random_objects(rng: np.random.Generator, width: int, height: int,
                   num: int) -> List[dict]:
    """Boxes in VOC's 1-based pixel coordinates, at least 40 pixels a side."""
    objects = []
    for _ in range(num):
        w = int(rng.integers(40, width // 2 + 1))
        h = int(rng.integers(40, height // 2 + 1))
        x1 = int(rng.integers(1, width - w + 1))
        y1 = int(rng.integers(1, height - h + 1))
        objects.append(dict(name=CLASSES[int(rng.integers(len(CLASSES)))],
                            bbox=(x1, y1, x1 + w - 1, y1 + h - 1), difficult=0))
    return objects


def draw(rng: np.random.Generator, width: int, height: int,
         objects: List[dict]) -> np.ndarray:
    """A noisy background with one coloured rectangle per object (BGR)."""
    img = rng.integers(0, 80, size=(height, width, 3)).astype(np.uint8)
    for obj in objects:
        x1, y1, x2, y2 = obj['bbox']
        colour = 60 + 35 * CLASSES.index(obj['name'])
        img[y1 - 1:y2, x1 - 1:x2] = (colour, 255 - colour, 128)
    return img


def annotation_xml(folder: str, img_id: str, width: int, height: int,
                   objects: List[dict]) -> ET.ElementTree:
    root = ET.Element('annotation')
    ET.SubElement(root, 'folder').text = folder
    ET.SubElement(root, 'filename').text = f'{img_id}.jpg'
    size = ET.SubElement(root, 'size')
    for key, value in (('width', width), ('height', height), ('depth', 3)):
        ET.SubElement(size, key).text = str(value)
    ET.SubElement(root, 'segmented').text = '0'
    for obj in objects:
        node = ET.SubElement(root, 'object')
        ET.SubElement(node, 'name').text = obj['name']
        ET.SubElement(node, 'pose').text = 'Unspecified'
        ET.SubElement(node, 'truncated').text = '0'
        ET.SubElement(node, 'difficult').text = str(obj['difficult'])
        box = ET.SubElement(node, 'bndbox')
        for key, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), obj['bbox']):
            ET.SubElement(box, key).text = str(value)
    return ET.ElementTree(root)


def write_voc(root: str, num_trainval_07: int = 5, num_test_07: int = 3,
              num_trainval_12: int = 4, seed: int = 0) -> Dict[str, List[str]]:
    """Write ``root/VOCdevkit`` in the real on-disk format.

    Args:
        root (str): The folder that gets ``VOCdevkit``.
        num_trainval_07 (int): VOC2007 trainval images. Defaults to 5.
        num_test_07 (int): VOC2007 test images. Defaults to 3.
        num_trainval_12 (int): VOC2012 trainval images. Defaults to 4.
        seed (int): Seed of the images and boxes. Defaults to 0.

    Returns:
        dict: The image ids of each split: ``'VOC2007/trainval'``,
        ``'VOC2007/test'`` and ``'VOC2012/trainval'``.
    """
    rng = np.random.default_rng(seed)
    counter = iter(range(1, 10000))
    splits = {
        'VOC2007': {'trainval': [f'{next(counter):06d}'
                                 for _ in range(num_trainval_07)],
                    'test': [f'{next(counter):06d}' for _ in range(num_test_07)]},
        'VOC2012': {'trainval': [f'2008_{next(counter):06d}'
                                 for _ in range(num_trainval_12)]},
    }
    for year, year_splits in splits.items():
        folder = osp.join(root, 'VOCdevkit', year)
        for sub in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
            os.makedirs(osp.join(folder, sub), exist_ok=True)
        for split, img_ids in year_splits.items():
            for position, img_id in enumerate(img_ids):
                width, height = SIZES[int(rng.integers(len(SIZES)))]
                objects = random_objects(rng, width, height,
                                         int(rng.integers(2, 4)))
                if (year, position) == DIFFICULT_ONLY and split == 'trainval':
                    objects = [dict(objects[0], difficult=1)]
                elif position == 0:
                    objects[-1]['difficult'] = 1
                cv2.imwrite(osp.join(folder, 'JPEGImages', f'{img_id}.jpg'),
                            draw(rng, width, height, objects))
                annotation_xml(year, img_id, width, height, objects).write(
                    osp.join(folder, 'Annotations', f'{img_id}.xml'))
            with open(osp.join(folder, 'ImageSets', 'Main', f'{split}.txt'),
                      'w') as f:
                f.write(''.join(f'{img_id}\n' for img_id in img_ids))
    return {f'{year}/{split}': ids for year, year_splits in splits.items()
            for split, ids in year_splits.items()}


def voc_dataset(devkit: str, year: str, split: str, pipeline):
    """mmdet's own ``VOCDataset`` for one split of a devkit."""
    from mmdet.registry import DATASETS
    return DATASETS.build(
        dict(type='VOCDataset', data_root=devkit,
             ann_file=f'{year}/ImageSets/Main/{split}.txt',
             data_prefix=dict(sub_data_root=f'{year}/'),
             test_mode=split == 'test', pipeline=pipeline))
