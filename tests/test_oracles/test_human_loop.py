"""Active learning with a person in the loop, end to end: ``tools/al_train.py`` on
``configs/human/ssd_vgg16_folder_lloss.py`` (shrunk) over a folder of images,
the query labeled in a real Label Studio server, ``tools/al_import.py`` on its
export, and the next round trained on the grown set."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mmal.oracles import missing_keys
from mmal.testing.al_runs import REPO, al_train, read_state
from mmal.testing.detection_folder import (box_result, images_to_coco,
                                           small_config, true_box, write_folder)
from mmal.testing.human_labels import hash_tree

pytestmark = pytest.mark.labelstudio


@pytest.fixture
def folder(tmp_path):
    return write_folder(str(tmp_path / 'my_images'))


def test_two_rounds_with_label_studio(folder, tmp_path, label_studio):
    config = small_config(str(tmp_path / 'small.py'), folder)
    work_dir = str(tmp_path / 'work')
    user_labels = hash_tree(osp.join(folder, 'labeled.json'))

    # Round 1: train on the user's 2 labeled images, export 4 for labeling, stop.
    result = al_train(config, work_dir)
    assert f'tools/al_import.py {work_dir} LABELS.json' in result.stdout
    assert f'--work-dir {work_dir} --resume' in result.stdout
    state = read_state(work_dir)
    assert [r['num_labeled'] for r in state['history']] == [2]
    queried = [q['key'] for q in state['awaiting']['queried']]
    assert len(queried) == 4 and not any(k.startswith('labeled/') for k in queried)
    query = osp.join(work_dir, 'queries', 'cycle_0')
    for name in ('query.csv', 'coco_predictions.json', 'labelstudio_tasks.json',
                 'labelstudio_config.xml', 'contact_sheet.png'):
        assert osp.getsize(osp.join(query, name)) > 0, name

    # Resuming before any label came back refuses, and changes nothing (but the
    # runner's own log).
    kept = [osp.join(work_dir, name) for name in ('al_state.json', 'labels',
                                                   'queries', 'cycle_0.pth')]
    before = hash_tree(*kept)
    refused = al_train(config, work_dir, '--resume', check=False)
    assert refused.returncode != 0
    assert '4 of the 4 queried images have no labels yet' in refused.stderr
    assert hash_tree(*kept) == before

    # A person labels 3 of the 4 in Label Studio: true boxes, one pre-annotation
    # corrected, one image with nothing in it; the last one is not done yet.
    with open(osp.join(query, 'labelstudio_config.xml')) as f:
        project = label_studio.create_project('round 1', f.read())['id']
    with open(osp.join(query, 'labelstudio_tasks.json')) as f:
        label_studio.import_tasks(project, json.load(f))
    items = {item['key']: item for item in state['awaiting']['queried']}
    tasks = {t['data']['mmal_key']: t for t in label_studio.tasks(project)}
    first, second, empty, undone = queried
    label_studio.annotate(tasks[first]['id'],
                          [box_result(true_box(), items[first])])
    predicted = tasks[second]['predictions'][0]['result'] if tasks[second].get(
        'predictions') else []
    corrected = dict(predicted[0]['value'] if predicted else {},
                     **true_box())
    label_studio.annotate(tasks[second]['id'], [box_result(corrected, items[second])])
    label_studio.annotate(tasks[empty]['id'], [])
    export = tmp_path / 'export.json'
    export.write_text(json.dumps(label_studio.export_json(project)))
    imported = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'al_import.py'), work_dir,
         str(export)], capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=REPO))
    assert imported.returncode == 0, imported.stderr
    assert missing_keys(work_dir) == [undone]

    # New images arrive before round 2: the pool grows.
    Image.fromarray(np.full((90, 120, 3), 200, np.uint8)).save(
        osp.join(folder, 'new_010.jpg'))
    images_to_coco(folder)

    # Round 2 trains on 2 + 3 labeled images; the undone one goes back to the pool.
    al_train(config, work_dir, '--resume', '--allow-partial')
    state = read_state(work_dir)
    history = state['history']
    assert [r['num_labeled'] for r in history] == [2, 5]
    assert [q['key'] for q in history[0]['queried']] == [first, second, empty]
    assert history[0]['returned_to_pool'] == [undone]
    assert state['awaiting']['cycle'] == 1
    # 6 readable images, the new one and the user's 2 labeled ones, which count
    # as labeled and are never queried.
    assert state['pool']['size'] == 9
    labeled_keys = {item['key'] for item in state['labeled']}
    assert {'labeled/user_000.jpg', 'labeled/user_001.jpg'} <= labeled_keys
    assert not any(q['key'].startswith('labeled/')
                   for q in state['awaiting']['queried'])
    with open(osp.join(work_dir, 'labels', 'labeled.json')) as f:
        labeled = json.load(f)
    assert len(labeled['images']) == 5
    assert osp.isfile(osp.join(work_dir, 'queries', 'cycle_1', 'query.csv'))
    assert hash_tree(osp.join(folder, 'labeled.json')) == user_labels  # untouched
