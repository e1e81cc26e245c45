"""A user's folder for top-down pose human rounds with
``configs/human/hourglass_folder_lloss.py`` (shrunk: 2 stacks, 64x64 inputs):
images with stick figures, the labeled people, and a detector's person boxes
(``bbox_file``)."""
import os.path as osp

from mmal.testing.al_runs import SMALL_HOURGLASS, run_tool, write_config
from mmal.testing.coco_format import write_coco_people
from mmal.testing.human_labels import read_json, write_json

SMALL = SMALL_HOURGLASS + """
data_root = '{root}/'
model = dict(
    target=small_target,
    taps=['backbone.features.0', 'backbone.features.1'],
    head=dict(in_channels=[32, 32], mid_channels=16))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'val.json')
test_evaluator = val_evaluator
train_cfg = dict(cycles=3, query_size=2, subset_size=6, max_epochs=1,
                 unlabeled_dataset=dict(
                     data_root=data_root, pipeline=val_pipeline,
                     bbox_file=data_root + 'person_boxes.json'))
"""
LABELED_PEOPLE = (1, 2, 1)
# New images: people per image; the last one has no person box (the detector
# found nobody), so it is not in the pool.
NEW_PEOPLE = (2, 1, 2, 1, 1)
NO_BOX = 'new/people_004.jpg'


def write_people_folder(root: str) -> dict:
    """The user's folder: labeled people, new images, the image-only COCO file of
    all of them, and the detector's person boxes (the true people, slightly
    shifted, plus a weak false box that the config's bbox_score_thr drops).
    Returns the folder and the new images' true people (COCO)."""
    labeled = write_coco_people(root, 'labeled', LABELED_PEOPLE, seed=0)
    write_json(labeled, osp.join(root, 'labeled.json'))
    write_json(labeled, osp.join(root, 'val.json'))
    truth = write_coco_people(root, 'new', NEW_PEOPLE, seed=1)
    run_tool('images_to_coco.py', root, osp.join(root, 'unlabeled.json'))
    unlabeled = read_json(osp.join(root, 'unlabeled.json'))
    image_ids = {image['file_name']: image['id'] for image in unlabeled['images']}
    detections = []
    for dataset in (labeled, truth):
        names = {image['id']: image['file_name'] for image in dataset['images']}
        for ann in dataset['annotations']:
            if names[ann['image_id']] == NO_BOX:
                continue
            x, y, w, h = ann['bbox']
            name = names[ann['image_id']]
            detections.append(dict(image_id=image_ids[name], file_name=name,
                                   category_id=1, score=0.9,
                                   bbox=[x + 1, y - 1, w, h]))
    detections.append(dict(image_id=image_ids['new/people_000.jpg'],
                           file_name='new/people_000.jpg', category_id=1,
                           score=0.1, bbox=[0, 0, 20, 20]))
    write_json(detections, osp.join(root, 'person_boxes.json'))
    return dict(root=root, truth=truth)


def people_of(coco, file_name):
    image = next(i for i in coco['images'] if i['file_name'] == file_name)
    return [a for a in coco['annotations'] if a['image_id'] == image['id']]


def small_config(path: str, root: str) -> str:
    return write_config(path, 'human/hourglass_folder_lloss.py',
                        SMALL.format(root=root))
