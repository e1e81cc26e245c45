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


# COCO's 17 keypoints of a standing person in box units (x right, y down, box
# height 1, centre 0), in COCO order (nose, eyes, ears, shoulders, elbows, wrists,
# hips, knees, ankles; left before right).
PERSON_TEMPLATE = np.array([
    [0.00, -0.42], [0.03, -0.45], [-0.03, -0.45], [0.06, -0.43], [-0.06, -0.43],
    [0.15, -0.25], [-0.15, -0.25], [0.22, -0.08], [-0.22, -0.08], [0.25, 0.08],
    [-0.25, 0.08], [0.08, 0.05], [-0.08, 0.05], [0.09, 0.25], [-0.09, 0.25],
    [0.10, 0.45], [-0.10, 0.45]
])
PERSON_LIMBS = ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (5, 11), (6, 12),
                (11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (0, 5), (0, 6))


def draw_people(rng: np.random.Generator, width: int, height: int,
                count: int) -> tuple:
    """An image of ``count`` stick figures side by side, whose keypoints are
    discs of distinct colours; and their keypoints (count, 17, 2) in pixels."""
    import cv2
    image = rng.integers(0, 80, size=(height, width, 3)).astype(np.uint8)
    people = []
    for n in range(count):
        size = height * rng.uniform(0.7, 0.85)
        centre = np.array([(n + 0.5) * width / count, height / 2])
        centre += rng.uniform(-4, 4, size=2)
        joints = centre + size * (PERSON_TEMPLATE +
                                  rng.normal(0, 0.015, PERSON_TEMPLATE.shape))
        points = np.round(joints).astype(int)
        for a, b in PERSON_LIMBS:
            cv2.line(image, tuple(map(int, points[a])), tuple(map(int, points[b])),
                     (160, 160, 160), 2)
        for k, point in enumerate(points):
            cv2.circle(image, tuple(map(int, point)), 2,
                       (40 + 12 * k, 255 - 12 * k, (97 * k) % 256), -1)
        people.append(joints)
    return image, np.array(people)


def person_box(keypoints: np.ndarray, width: int, height: int) -> List[float]:
    """A COCO ``[x, y, w, h]`` box around one person's keypoints, 10% larger."""
    (x1, y1), (x2, y2) = keypoints.min(0), keypoints.max(0)
    pad_x, pad_y = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
    x1, y1 = max(0., x1 - pad_x), max(0., y1 - pad_y)
    x2, y2 = min(width - 1., x2 + pad_x), min(height - 1., y2 + pad_y)
    return [round(float(v), 2) for v in (x1, y1, x2 - x1, y2 - y1)]


def write_coco_people(image_root: str, folder: str, people_per_image: Sequence[int],
                      seed: int = 0, size: tuple = (128, 96)) -> dict:
    """JPEGs of stick figures under ``image_root/folder`` and their COCO keypoints
    dataset (returned; file names relative to ``image_root``; ``person`` with
    mmpose's COCO keypoint names)."""
    import cv2
    from mmal.testing.human_labels import pose_metainfo
    names = [pose_metainfo()['keypoint_id2name'][k] for k in range(17)]
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(image_root, folder), exist_ok=True)
    width, height = size
    images, annotations = [], []
    for i, count in enumerate(people_per_image):
        image, people = draw_people(rng, width, height, count)
        file_name = f'{folder}/people_{i:03d}.jpg'
        cv2.imwrite(osp.join(image_root, file_name), image)
        images.append(dict(id=i + 1, file_name=file_name, width=width,
                           height=height))
        for keypoints in people:
            box = person_box(keypoints, width, height)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=i + 1, category_id=1, iscrowd=0,
                bbox=box, area=box[2] * box[3], num_keypoints=17,
                keypoints=[round(float(v), 2) for x, y in keypoints
                           for v in (x, y, 2)]))
    categories = [dict(id=1, name='person', supercategory='person',
                       keypoints=names, skeleton=[])]
    return dict(images=images, annotations=annotations, categories=categories)
