"""``tools/images_to_coco.py``: an image-only COCO file that mmdet's CocoDataset
reads as an unlabeled pool."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
from pycocotools.coco import COCO

from mmal.testing.al_runs import REPO
from mmal.testing.coco_format import POOL_IMAGES, UNREADABLE, write_image_folder
from mmal.testing.human_labels import load_tool

images_to_coco = load_tool('images_to_coco')


def run_tool(*args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, osp.join(REPO, 'tools', 'images_to_coco.py'),
                           *args], capture_output=True, text=True, env=env)


def test_images_to_coco(tmp_path):
    img_root = str(tmp_path / 'images')
    write_image_folder(img_root)
    out = str(tmp_path / 'pool.json')
    result = run_tool(img_root, out)
    assert result.returncode == 0, result.stderr
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
