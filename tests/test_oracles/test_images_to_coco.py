"""``tools/images_to_coco.py``: an image-only COCO file that mmdet's CocoDataset
reads as an unlabeled pool."""
import json
import os
import os.path as osp
import stat
import struct
import subprocess
import sys
import zlib

import cv2
from pycocotools.coco import COCO

from mmal.testing.al_runs import REPO
from mmal.testing.coco_format import POOL_IMAGES, UNREADABLE, write_image_folder
from mmal.testing.human_labels import load_tool

images_to_coco = load_tool('images_to_coco')


def run_tool(*args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, osp.join(REPO, 'tools', 'images_to_coco.py'),
                           *args], capture_output=True, text=True, env=env,
                          preexec_fn=lambda: os.umask(0o022))


def test_images_to_coco(tmp_path):
    img_root = str(tmp_path / 'images')
    write_image_folder(img_root)
    out = str(tmp_path / 'pool.json')
    result = run_tool(img_root, out)
    assert result.returncode == 0, result.stderr
    # As an ordinary new file: readable by others under umask 022.
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o644
    # Unreadable files are listed, never skipped silently.
    for key in UNREADABLE:
        assert f'skipped unreadable image {key}' in result.stderr
    assert 'README.txt' not in result.stderr
    with open(out) as f:
        coco = json.load(f)
    sizes = {image['file_name']: (image['width'], image['height'])
             for image in coco['images']}
    assert sizes == POOL_IMAGES
    # The sizes are what mmcv decodes (cv2 applies the EXIF rotation).
    for key, (width, height) in sizes.items():
        assert cv2.imread(osp.join(img_root, key)).shape[:2] == (height, width)
    assert len({image['id'] for image in coco['images']}) == len(POOL_IMAGES)
    assert len(COCO(out).getImgIds()) == len(POOL_IMAGES)


def test_image_only_coco_is_an_mmdet_pool(tmp_path):
    from mmdet.datasets import CocoDataset
    img_root = str(tmp_path / 'images')
    write_image_folder(img_root)
    assert images_to_coco.main([img_root, str(tmp_path / 'pool.json')]) == 0
    dataset = CocoDataset(data_root=str(tmp_path), ann_file='pool.json',
                          data_prefix=dict(img='images/'),
                          metainfo=dict(classes=('car', 'person')),
                          filter_cfg=dict(filter_empty_gt=False), pipeline=[])
    assert len(dataset) == len(POOL_IMAGES)
    paths = sorted(osp.relpath(dataset.get_data_info(i)['img_path'], img_root)
                   for i in range(len(dataset)))
    assert paths == sorted(POOL_IMAGES)


def test_images_to_coco_refuses_bad_folders(tmp_path, capsys):
    out = str(tmp_path / 'out.json')
    assert images_to_coco.main([str(tmp_path / 'missing'), out]) == 2
    assert 'is not a folder' in capsys.readouterr().err
    (tmp_path / 'empty').mkdir()
    assert images_to_coco.main([str(tmp_path / 'empty'), out]) == 1
    assert 'no readable images' in capsys.readouterr().err
    assert not (tmp_path / 'out.json').exists()


def write_bomb_png(path, width=30000, height=30000):
    """A small PNG whose header claims ``width`` x ``height`` pixels."""
    from PIL import Image
    Image.new('RGB', (8, 8)).save(path)
    data = bytearray(open(path, 'rb').read())
    # The IHDR chunk: length (4), type (4), width, height, ..., its CRC.
    data[16:24] = struct.pack('>II', width, height)
    data[29:33] = struct.pack('>I', zlib.crc32(bytes(data[12:29])))
    with open(path, 'wb') as f:
        f.write(data)


def test_a_bomb_and_a_fifo_are_skipped(tmp_path):
    """A header claiming 30000x30000 pixels and a FIFO named like an image are
    listed as unreadable; the other images are listed (the FIFO would block
    forever if it were opened)."""
    img_root = str(tmp_path / 'images')
    write_image_folder(img_root)
    write_bomb_png(osp.join(img_root, 'bomb.png'))
    os.mkfifo(osp.join(img_root, 'fifo.jpg'))
    out = str(tmp_path / 'pool.json')
    env = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, osp.join(REPO, 'tools',
                                                      'images_to_coco.py'),
                             img_root, out], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert ('skipped unreadable image bomb.png: DecompressionBombError'
            in result.stderr)
    assert ('skipped unreadable image fifo.jpg: not a regular file'
            in result.stderr)
    with open(out) as f:
        names = {image['file_name'] for image in json.load(f)['images']}
    assert names == set(POOL_IMAGES)
