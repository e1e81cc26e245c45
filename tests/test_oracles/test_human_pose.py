"""Human rounds for top-down pose: ``tools/al_train.py`` on
``configs/human/hourglass_folder_lloss.py`` (shrunk: 2 stacks, 64x64 inputs) over a
folder of images with stick figures, person boxes from a detector's COCO results
file (``bbox_file``), labels read back by mmpose's ``CocoDataset``."""
import csv
import os
import os.path as osp

import numpy as np
import pytest

from mmal.oracles import labeled_path, missing_keys
from mmal.testing.al_runs import al_train, read_state, run_tool
from mmal.testing.coco_format import write_coco_people
from mmal.testing.human_labels import read_json, write_json
from mmal.testing.pose_folder import (LABELED_PEOPLE, NEW_PEOPLE, NO_BOX,
                                      people_of, small_config,
                                      write_people_folder)


@pytest.fixture
def folder(tmp_path):
    return write_people_folder(str(tmp_path / 'my_people'))


def test_two_pose_rounds(folder, tmp_path):
    root, truth = folder['root'], folder['truth']
    config = small_config(str(tmp_path / 'small.py'), root)
    work_dir = str(tmp_path / 'work')
    result = al_train(config, work_dir)
    assert '--resume' in result.stdout
    state = read_state(work_dir)
    history = state['history']
    # Cycle 0 trained on the user's 4 labeled people.
    assert [r['num_labeled'] for r in history] == [sum(LABELED_PEOPLE)]
    assert 'coco/AP' in history[0]['metrics']
    queried = [q['key'] for q in state['awaiting']['queried']]
    # Images, not people: the labeled ones and the one without a box never.
    assert len(queried) == 2 and len(set(queried)) == 2
    assert all(k.startswith('new/') and k != NO_BOX for k in queried)

    query = osp.join(work_dir, 'queries', 'cycle_0')
    with open(osp.join(query, 'query.csv')) as f:
        rows = list(csv.DictReader(f))
    assert [r['key'] for r in rows] == queried
    assert float(rows[0]['score']) >= float(rows[1]['score'])
    assert osp.isfile(osp.join(query, 'contact_sheet.png'))
    # One pre-annotated person per strong person box; its 17 keypoints are the
    # model's, in the image's pixels, those it places outside the image left out.
    predictions = read_json(osp.join(query, 'coco_predictions.json'))
    for key in queried:
        people = people_of(predictions, key)
        assert len(people) == len(people_of(truth, key))
        for person in people:
            x, y, v = np.array(person['keypoints']).reshape(17, 3).T
            placed = v > 0
            assert person['num_keypoints'] == placed.sum()
            assert ((x[placed] >= 0) & (x[placed] <= 128)).all()
            assert ((y[placed] >= 0) & (y[placed] <= 96)).all()
            assert (x[~placed] == 0).all() and (y[~placed] == 0).all()
    tasks = read_json(osp.join(query, 'labelstudio_tasks.json'))
    points = [r for r in tasks[0]['predictions'][0]['result']
              if r['type'] == 'keypointlabels']
    assert len(points) == sum(p['num_keypoints']
                              for p in people_of(predictions, queried[0]))

    # The annotator moves every pre-annotated person onto the truth.
    for key in queried:
        for person, true in zip(people_of(predictions, key), people_of(truth, key)):
            person.update(keypoints=true['keypoints'], bbox=true['bbox'],
                          num_keypoints=17)
    labels = write_json(predictions, tmp_path / 'labels.json')
    run_tool('al_import.py', work_dir, labels)
    assert missing_keys(work_dir) == []

    al_train(config, work_dir, '--resume')
    state = read_state(work_dir)
    new_people = sum(len(people_of(truth, key)) for key in queried)
    assert [r['num_labeled'] for r in state['history']] == [
        sum(LABELED_PEOPLE), sum(LABELED_PEOPLE) + new_people]
    second = [q['key'] for q in state['awaiting']['queried']]
    assert len(second) == 2 and not set(second) & set(queried)
    assert NO_BOX not in second
    labeled = read_json(labeled_path(work_dir))
    for key in queried:
        assert [p['keypoints'] for p in people_of(labeled, key)] == [
            p['keypoints'] for p in people_of(truth, key)]



def test_pool_samples_are_images_scored_by_their_people(folder):
    """The pool merges the person boxes of an image into one sample: its score is
    the highest of its people's, its features their mean."""
    from mmpose.datasets import CocoDataset

    from mmal.datasets import PoolLayout
    from mmal.engine.pool_scoring import (features, predicted_loss,
                                          reduce_instances)
    root = folder['root']
    dataset = CocoDataset(data_root=root, ann_file='unlabeled.json',
                          bbox_file=osp.join(root, 'person_boxes.json'),
                          data_prefix=dict(img=''), test_mode=True, pipeline=[],
                          filter_cfg=dict(bbox_score_thr=0.3))
    layout = PoolLayout(dataset, 'img_path', key_root=root, merge_same_keys=True)
    people = dict(
        {f'labeled/people_{i:03d}.jpg': n for i, n in enumerate(LABELED_PEOPLE)},
        **{f'new/people_{i:03d}.jpg': n for i, n in enumerate(NEW_PEOPLE)})
    del people[NO_BOX]
    assert sorted(layout.keys) == sorted(people)
    for key, row in zip(layout.keys, layout.instances):
        members = row[row >= 0]
        assert len(members) == people[key]
        assert {osp.relpath(dataset.get_data_info(int(i))['img_path'], root)
                for i in members} == {key}
    assert sorted(layout.dataset_indices(range(len(layout)))) == list(
        range(len(dataset)))

    owner = np.array([0, 0, 1, 2, 2, 2])
    losses = np.array([1., 5., 2., 3., 7., 4.])
    assert reduce_instances(losses, owner, predicted_loss).tolist() == [5, 2, 7]
    rows = np.arange(12.).reshape(6, 2)
    assert reduce_instances(rows, owner, features).tolist() == [[1, 2], [4, 5],
                                                                [8, 9]]


def test_detect_people_writes_the_bbox_file_mmpose_reads(folder, tmp_path):
    """tools/detect_people.py with a real RTMDet-tiny (random weights saved as a
    checkpoint with COCO's classes, as a user's trained detector would be)."""
    import torch
    from mmdet.apis import init_detector
    from mmdet.evaluation import get_classes
    from mmpose.datasets import CocoDataset
    root = folder['root']
    config = tmp_path / 'rtmdet.py'
    config.write_text("_base_ = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'\n")
    detector = init_detector(str(config), None, device='cpu')
    # Random box distances are mostly zero (ReLU), boxes mmdet drops, and random
    # classes are rarely 'person': biases give it boxes of some size, people.
    with torch.no_grad():
        for reg, cls in zip(detector.bbox_head.rtm_reg, detector.bbox_head.rtm_cls):
            reg.bias.fill_(2.0)
            cls.bias[0] += 5.0
    checkpoint = str(tmp_path / 'rtmdet.pth')
    torch.save(dict(state_dict=detector.state_dict(), meta=dict(
        dataset_meta=dict(classes=get_classes('coco')))), checkpoint)
    out = str(tmp_path / 'person_boxes.json')
    unlabeled = osp.join(root, 'unlabeled.json')
    # Random weights: every box scores low, so keep them all.
    run_tool('detect_people.py', str(config), checkpoint, root, unlabeled, out,
             '--score-thr', '0', '--device', 'cpu')
    boxes = read_json(out)
    image_ids = {image['id'] for image in read_json(unlabeled)['images']}
    assert boxes and {b['image_id'] for b in boxes} <= image_ids
    assert {b['category_id'] for b in boxes} == {1}
    names = {image['id']: image['file_name']
             for image in read_json(unlabeled)['images']}
    assert all(names[b['image_id']] == b['file_name'] for b in boxes)
    assert all(b['bbox'][2] > 0 and b['bbox'][3] > 0 and 0 <= b['score'] <= 1
               for b in boxes)
    dataset = CocoDataset(data_root=root, ann_file='unlabeled.json', bbox_file=out,
                          data_prefix=dict(img=''), test_mode=True, pipeline=[])
    assert len(dataset) == len(boxes)

    wrong = run_tool('detect_people.py', str(config), checkpoint, root, unlabeled,
                     str(tmp_path / 'none.json'), '--class-name', 'persons',
                     '--device', 'cpu', check=False)
    assert wrong.returncode == 1
    assert "no class 'persons'" in wrong.stderr and "'person'" in wrong.stderr
    assert not osp.exists(tmp_path / 'none.json')
    wrong = run_tool('detect_people.py', str(config), checkpoint, root,
                     str(tmp_path / 'nothing.json'), str(tmp_path / 'none.json'),
                     check=False)
    assert wrong.returncode == 1 and 'tools/images_to_coco.py' in wrong.stderr
    # A checkpoint that pickles more than weights is not unpickled unless trusted.
    torch.save(dict(state_dict=detector.state_dict(), meta=dict(
        dataset_meta=dict(classes=get_classes('coco'))), step=np.int64(1)),
        checkpoint)
    wrong = run_tool('detect_people.py', str(config), checkpoint, root, unlabeled,
                     str(tmp_path / 'none.json'), '--device', 'cpu', check=False)
    assert wrong.returncode == 1 and 'Traceback' not in wrong.stderr
    assert f'--trust-checkpoint {checkpoint}' in wrong.stderr
    run_tool('detect_people.py', str(config), checkpoint, root, unlabeled, out,
             '--score-thr', '0', '--device', 'cpu', '--trust-checkpoint', checkpoint)


@pytest.mark.parametrize('missing, fix', [
    ('person_boxes.json', 'tools/detect_people.py DET_CONFIG DET_CHECKPOINT'),
    ('unlabeled.json', 'tools/images_to_coco.py')])
def test_missing_pool_files_name_the_command(folder, tmp_path, missing, fix):
    root = folder['root']
    os.remove(osp.join(root, missing))
    config = small_config(str(tmp_path / 'small.py'), root)
    work_dir = str(tmp_path / 'work')
    result = al_train(config, work_dir, check=False)
    assert result.returncode != 0
    assert f'{missing} does not exist' in result.stderr and fix in result.stderr
    assert not osp.exists(osp.join(work_dir, 'al_state.json'))


def test_person_boxes_of_an_older_image_list_are_refused(folder, tmp_path):
    """A new image listed first renumbers the images: the old boxes would land on
    other images."""
    root = folder['root']
    write_coco_people(root, 'a_new', (1, ), seed=2)
    run_tool('images_to_coco.py', root, osp.join(root, 'unlabeled.json'))
    config = small_config(str(tmp_path / 'small.py'), root)
    result = al_train(config, str(tmp_path / 'work'), check=False)
    assert result.returncode != 0
    assert 'person_boxes.json was written for another list of images' in result.stderr
    assert 'tools/detect_people.py' in result.stderr
