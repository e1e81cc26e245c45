"""A user's folder for detection human rounds with
``configs/human/ssd_vgg16_folder_lloss.py`` (shrunk: SSD without pretrained
weights, batch 2): pool images, the user's labeled COCO file (also the
validation file), and the true object of every image in Label Studio's terms."""
import os.path as osp
import shutil

from mmal.oracles.formats.label_studio import BOX, IMAGE
from mmal.testing.al_runs import run_tool, write_config
from mmal.testing.coco_format import write_coco, write_image_folder
from mmal.testing.human_labels import CLASSES

SMALL = """
data_root = '{root}/'
model = dict(target=dict(backbone=dict(init_cfg=None)))  # no download in tests
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'val.json')
test_evaluator = val_evaluator
train_cfg = dict(cycles=3, query_size=4, subset_size=6, max_epochs=1,
                 score_batch_size=2, unlabeled_dataset=dict(data_root=data_root))
default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=0)
"""


def images_to_coco(root: str) -> None:
    run_tool('images_to_coco.py', root, osp.join(root, 'unlabeled.json'))


def true_box() -> dict:
    """The generated object of every pool image (its bright square, see
    ``write_image_folder``), in Label Studio's percent coordinates."""
    return dict(x=25.0, y=25.0, width=25.0, height=25.0, rotation=0,
                rectanglelabels=[CLASSES[0]])


def box_result(value: dict, item: dict) -> dict:
    return dict(from_name=BOX, to_name=IMAGE, type='rectanglelabels',
                original_width=item['width'], original_height=item['height'],
                image_rotation=0, value=value)


def write_folder(root: str) -> str:
    """The pool (the readable images, unlabeled) and the user's labeled file,
    copied as the validation file; returns ``root``."""
    write_image_folder(root)
    images_to_coco(root)
    write_coco(osp.join(root, 'labeled.json'), root, CLASSES)
    shutil.copy(osp.join(root, 'labeled.json'), osp.join(root, 'val.json'))
    return root


def small_config(path: str, root: str) -> str:
    return write_config(path, 'human/ssd_vgg16_folder_lloss.py',
                        SMALL.format(root=root))
