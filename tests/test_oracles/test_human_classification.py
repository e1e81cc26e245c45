"""Human rounds for image classification: ``tools/al_train.py`` on
``configs/human/resnet18_folder_lloss.py`` (shrunk: 32x32 inputs, a narrow
ResNet-18) over a folder of images, labels read by ``CocoClassificationDataset``,
the query's ``coco_predictions.json`` corrected and imported as COCO."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmal.oracles import labeled_path, missing_keys
from mmal.testing.al_runs import al_train, read_state, run_tool, write_config
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


def write_labeled(root: str) -> None:
    """The user's 4 labeled images, 2 of each class, as a COCO file."""
    images, annotations = [], []
    os.makedirs(osp.join(root, 'labeled'), exist_ok=True)
    for i in range(4):
        name = f'labeled/{("cat", "dog")[i % 2]}_{i}.png'
        Image.fromarray(np.full((40, 50, 3), 60 * (i % 2) + 40, np.uint8)).save(
            osp.join(root, name))
        images.append(dict(id=i + 1, file_name=name, width=50, height=40))
        annotations.append(dict(id=i + 1, image_id=i + 1, category_id=i % 2 + 1))
    coco = dict(images=images, annotations=annotations,
                categories=[dict(id=1, name='cat'), dict(id=2, name='dog')])
    for name in ('labeled.json', 'val.json'):
        with open(osp.join(root, name), 'w') as f:
            json.dump(coco, f)


@pytest.fixture
def folder(tmp_path):
    root = str(tmp_path / 'my_images')
    write_image_folder(root)
    run_tool('images_to_coco.py', root, osp.join(root, 'unlabeled.json'))
    write_labeled(root)
    return root


def test_two_classification_rounds(folder, tmp_path):
    config = write_config(str(tmp_path / 'small.py'), 'human/resnet18_folder_lloss.py',
                          SMALL.format(root=folder))
    work_dir = str(tmp_path / 'work')
    result = al_train(config, work_dir)
    assert '--resume' in result.stdout
    history = read_state(work_dir)['history']
    assert [r['num_labeled'] for r in history] == [4]
    assert 0 <= history[0]['metrics']['accuracy/top1'] <= 100
    queried = [q['key'] for q in history[0]['awaiting']['queried']]
    assert len(queried) == 2 and not any(k.startswith('labeled/') for k in queried)

    # The annotator takes the exported predictions, correcting the first image.
    query = osp.join(work_dir, 'queries', 'cycle_0')
    with open(osp.join(query, 'coco_predictions.json')) as f:
        coco = json.load(f)
    names = {c['name']: c['id'] for c in coco['categories']}
    assert set(names) == {'cat', 'dog'} and len(coco['annotations']) == 2
    first_id = next(i['id'] for i in coco['images'] if i['file_name'] == queried[0])
    for ann in coco['annotations']:
        assert 'bbox' not in ann and 0 <= ann['score'] <= 1
        if ann['image_id'] == first_id:
            ann['category_id'] = names['dog']
    labels = tmp_path / 'labels.json'
    labels.write_text(json.dumps(coco))
    run_tool('al_import.py', work_dir, str(labels))
    assert missing_keys(work_dir) == []

    al_train(config, work_dir, '--resume')
    history = read_state(work_dir)['history']
    assert [r['num_labeled'] for r in history] == [4, 6]
    assert [q['key'] for q in history[0]['queried']] == queried
    with open(labeled_path(work_dir)) as f:
        labeled = json.load(f)
    classes = {c['id']: c['name'] for c in labeled['categories']}
    by_file = {i['id']: i['file_name'] for i in labeled['images']}
    assert {by_file[a['image_id']]: classes[a['category_id']]
            for a in labeled['annotations']}[queried[0]] == 'dog'
