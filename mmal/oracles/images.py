"""Image files as the annotation tools see them: sizes after EXIF rotation, keys
relative to a data root, and image-only COCO files for an unlabeled pool."""
import os
import os.path as osp
import stat
from typing import List, Tuple

from PIL import Image

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
# EXIF orientations 5-8 turn the image by 90 degrees: width and height swap.
_TRANSPOSED = (5, 6, 7, 8)


def image_size(path: str) -> Tuple[int, int]:
    """(width, height) as displayed, i.e. after EXIF rotation, which is what mmcv's
    cv2 decoding, browsers and Label Studio show. The whole image is decoded so
    that truncated files fail here (OSError) rather than during training."""
    with Image.open(path) as img:
        img.load()
        width, height = img.size
        if img.getexif().get(0x0112) in _TRANSPOSED:
            width, height = height, width
    return width, height


def check_key(key: str, what: str = 'file name') -> str:
    """``key`` as a normalised POSIX path relative to its data root; absolute paths
    and paths that climb out of the root (``../``) are refused."""
    if not isinstance(key, str) or not key:
        raise ValueError(f'{what} {key!r} is not a path')
    posix = key.replace('\\', '/')
    if posix.startswith('/') or osp.isabs(key) or (len(posix) > 1
                                                   and posix[1] == ':'):
        raise ValueError(f'{what} {key!r} is absolute: image paths must be '
                         'relative to the data root')
    normalised = osp.normpath(posix).replace(os.sep, '/')
    if normalised == '..' or normalised.startswith('../'):
        raise ValueError(f'{what} {key!r} escapes the data root (../): image '
                         'paths must stay inside it')
    return normalised


def key_of(img_path: str, img_root: str) -> str:
    """The key of an image: its path relative to the data root it was listed in."""
    return check_key(osp.relpath(img_path, img_root), 'image path')


def find_images(image_dir: str) -> List[str]:
    """Image files under ``image_dir`` (subfolders included), as sorted keys."""
    keys = []
    for folder, dirs, files in os.walk(image_dir):
        dirs.sort()
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS):
                keys.append(key_of(osp.join(folder, name), image_dir))
    return sorted(keys)


def images_to_coco(image_dir: str) -> Tuple[dict, List[Tuple[str, str]]]:
    """An image-only COCO dataset of the images under ``image_dir``.

    Returns the dataset (``file_name`` relative to ``image_dir``, ``categories``
    and ``annotations`` empty) and the ``(key, reason)`` of every file that could
    not be read, which is left out.
    """
    if not osp.isdir(image_dir):
        raise FileNotFoundError(f'{image_dir} is not a folder of images')
    images, unreadable = [], []
    for key in find_images(image_dir):
        path = osp.join(image_dir, key)
        try:
            # Reading a FIFO named *.jpg would wait for a writer forever.
            if not stat.S_ISREG(os.stat(path).st_mode):
                unreadable.append((key, 'not a regular file (a FIFO, socket or '
                                   'device)'))
                continue
            width, height = image_size(path)
        except (OSError, SyntaxError, ValueError,
                Image.DecompressionBombError) as error:
            # DecompressionBombError: a header claiming more pixels than PIL
            # decodes (Image.MAX_IMAGE_PIXELS, doubled).
            unreadable.append((key, f'{type(error).__name__}: {error}'))
            continue
        images.append(dict(id=len(images) + 1, file_name=key, width=width,
                           height=height))
    return dict(images=images, annotations=[], categories=[]), unreadable
