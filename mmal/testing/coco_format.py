"""Image folders and COCO files as users have them, for the human-in-the-loop tests.

``write_image_folder`` writes JPEGs and PNGs in subfolders, of several sizes, a
grayscale one, a JPEG whose EXIF orientation turns it by 90 degrees, and files that
no decoder can read. ``write_coco`` writes a user's COCO detection file.
"""
import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
from PIL import Image

# key -> (width, height) as displayed (after EXIF rotation).
POOL_IMAGES = {
    'street/img_000.jpg': (320, 240),
    'street/night/img_001.png': (200, 150),
    'park/img_002.jpg': (256, 192),
    'gray_003.png': (180, 120),
    'rotated_004.jpg': (160, 240),   # stored 240x160, EXIF orientation 6
    'park/img_005.jpg': (300, 200),
}
UNREADABLE = ('broken_truncated.jpg', 'empty.png', 'street/not_an_image.jpg')


def _pixels(rng: np.random.Generator, width: int, height: int,
            channels: int = 3) -> np.ndarray:
    shape = (height, width, channels) if channels > 1 else (height, width)
    img = rng.integers(0, 256, size=shape, dtype=np.uint8)
    img[height // 4:height // 2, width // 4:width // 2] = 255   # a bright "object"
    return img


def write_image_folder(root: str, seed: int = 0) -> Dict[str, tuple]:
    """Write :data:`POOL_IMAGES` and :data:`UNREADABLE` under ``root``; returns the
    displayed sizes of the readable ones by key."""
    rng = np.random.default_rng(seed)
    for key, (width, height) in POOL_IMAGES.items():
        path = osp.join(root, key)
        os.makedirs(osp.dirname(path), exist_ok=True)
        if key.startswith('gray'):
            Image.fromarray(_pixels(rng, width, height, 1), 'L').save(path)
        elif key.startswith('rotated'):
            exif = Image.Exif()
            exif[0x0112] = 6   # rotate 90 degrees clockwise when displayed
            Image.fromarray(_pixels(rng, height, width)).save(path, exif=exif)
        else:
            Image.fromarray(_pixels(rng, width, height)).save(path)
    good = osp.join(root, 'street/img_000.jpg')
    with open(good, 'rb') as f:
        data = f.read()
    with open(osp.join(root, UNREADABLE[0]), 'wb') as f:
        f.write(data[:len(data) // 3])
    open(osp.join(root, UNREADABLE[1]), 'wb').close()
    with open(osp.join(root, UNREADABLE[2]), 'w') as f:
        f.write('not a JPEG\n')
    with open(osp.join(root, 'README.txt'), 'w') as f:
        f.write('not an image file name: ignored\n')
    return dict(POOL_IMAGES)


def write_coco(path: str, image_root: str, classes: Sequence[str],
               num_images: int = 2, seed: int = 1) -> List[str]:
    """A user's labeled COCO detection file with ``num_images`` new JPEGs under
    ``image_root/labeled/``, 1-3 boxes each; category ids start at 3 (as in real
    files, ids need not be 0-based). Returns the file names."""
    import json
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for i in range(num_images):
        width, height = 200 + 20 * i, 160
        file_name = f'labeled/user_{i:03d}.jpg'
        os.makedirs(osp.join(image_root, 'labeled'), exist_ok=True)
        Image.fromarray(_pixels(rng, width, height)).save(
            osp.join(image_root, file_name))
        images.append(dict(id=10 + i, file_name=file_name, width=width,
                           height=height))
        for _ in range(int(rng.integers(1, 4))):
            w, h = int(rng.integers(20, 80)), int(rng.integers(20, 80))
            x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            annotations.append(dict(
                id=100 + len(annotations), image_id=10 + i,
                category_id=3 + int(rng.integers(len(classes))),
                bbox=[x, y, w, h], area=w * h, iscrowd=0))
    categories = [dict(id=3 + i, name=name) for i, name in enumerate(classes)]
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=annotations,
                       categories=categories), f)
    return [image['file_name'] for image in images]
