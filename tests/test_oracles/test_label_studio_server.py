"""The query's Label Studio files in a real Label Studio 1.23: project from
``labelstudio_config.xml``, tasks with pre-annotations, annotations made over its
REST API as an annotator would, its JSON export imported by ``tools/al_import.py``."""
import copy
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from mmal.oracles import labeled_path, missing_keys
from mmal.testing.al_runs import REPO
from mmal.testing.human_labels import CLASSES, QUERY, open_query

pytestmark = pytest.mark.labelstudio


def test_label_studio_round_trip(label_studio, det_copy, tmp_path):
    qdir = det_copy['query_dir']
    with open(osp.join(qdir, 'labelstudio_config.xml')) as f:
        project = label_studio.create_project('mmal query', f.read())['id']
    with open(osp.join(qdir, 'labelstudio_tasks.json')) as f:
        label_studio.import_tasks(project, json.load(f))
    tasks = {t['data']['mmal_key']: t for t in label_studio.tasks(project)}
    assert sorted(tasks) == sorted(QUERY)
    # Label Studio took the pre-annotations; its export lists annotated tasks only.
    assert all(t['total_predictions'] == 1 for t in tasks.values())
    assert label_studio.export_json(project) == []

    with open(osp.join(qdir, 'labelstudio_tasks.json')) as f:
        sent = {t['data']['mmal_key']: t['predictions'][0]['result']
                for t in json.load(f)}
    # Image 0: the pre-annotations are right. Image 1: one box corrected (moved,
    # relabeled). Image 2: nothing there. Image 3: not done yet.
    label_studio.annotate(tasks[QUERY[0]]['id'], sent[QUERY[0]])
    corrected = copy.deepcopy(sent[QUERY[1]])
    corrected[0]['value'].update(x=10.0, y=12.5, width=25.0, height=50.0,
                                 rectanglelabels=['traffic light'])
    label_studio.annotate(tasks[QUERY[1]]['id'], corrected)
    label_studio.annotate(tasks[QUERY[2]]['id'], [])

    export = label_studio.export_json(project)
    path = tmp_path / 'label_studio_export.json'
    path.write_text(json.dumps(export))
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'al_import.py'),
         det_copy['work_dir'], str(path)], capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 0, result.stderr
    assert '1 queried images still await labels: gray_003.png' in result.stdout
    assert missing_keys(det_copy['work_dir']) == [QUERY[3]]

    with open(labeled_path(det_copy['work_dir'])) as f:
        labeled = json.load(f)
    names = {c['id']: c['name'] for c in labeled['categories']}
    ids = {i['file_name']: i['id'] for i in labeled['images']}
    anns = {key: [(names[a['category_id']], a['bbox'])
                  for a in labeled['annotations'] if a['image_id'] == ids[key]]
            for key in QUERY[:3]}
    assert len(anns[QUERY[0]]) == len(sent[QUERY[0]]) == 2
    assert anns[QUERY[2]] == []
    # The corrected box: percent of the 320x240 image.
    assert ('traffic light', pytest.approx([32.0, 30.0, 80.0, 120.0])) in \
        anns[QUERY[1]]
    assert QUERY[3] not in ids
    assert set(CLASSES) <= set(names.values())


def round_trip(label_studio, query, answer, tmp_path):
    """Project and tasks from the query's files; ``answer(key, sent_result)`` is
    the annotation of each task (None: not done); the JSON export imported."""
    qdir = query['query_dir']
    with open(osp.join(qdir, 'labelstudio_config.xml')) as f:
        project = label_studio.create_project('mmal query', f.read())['id']
    with open(osp.join(qdir, 'labelstudio_tasks.json')) as f:
        sent = json.load(f)
    label_studio.import_tasks(project, sent)
    sent = {t['data']['mmal_key']: t['predictions'][0]['result'] for t in sent}
    for task in label_studio.tasks(project):
        assert task['total_predictions'] == 1
        result = answer(task['data']['mmal_key'], copy.deepcopy(sent[task['data'][
            'mmal_key']]))
        if result is not None:
            label_studio.annotate(task['id'], result)
    path = tmp_path / 'label_studio_export.json'
    path.write_text(json.dumps(label_studio.export_json(project)))
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'al_import.py'),
         query['work_dir'], str(path)], capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 0, result.stderr
    with open(labeled_path(query['work_dir'])) as f:
        return sent, json.load(f)


def annotations_of(labeled, key):
    image = next(i for i in labeled['images'] if i['file_name'] == key)
    return [a for a in labeled['annotations'] if a['image_id'] == image['id']]


def test_label_studio_pose_round_trip(label_studio, data, tmp_path):
    """Person boxes with their keypoints (keypointlabels linked by parentID)."""
    query = open_query(data, str(tmp_path / 'work_dir'), task='pose')

    def answer(key, result):
        if key == QUERY[1]:  # the annotator drops the last keypoint of person 1
            return [r for r in result if r['id'] != 'r1_0_k16']
        return result if key != QUERY[3] else None

    sent, labeled = round_trip(label_studio, query, answer, tmp_path)
    assert missing_keys(query['work_dir']) == [QUERY[3]]
    for key in QUERY[:3]:
        people = annotations_of(labeled, key)
        boxes = [r for r in sent[key] if r['type'] == 'rectanglelabels']
        assert len(people) == len(boxes) == 2
        for person, box in zip(people, boxes):
            points = {r['value']['keypointlabels'][0]: r['value'] for r in sent[key]
                      if r.get('parentID') == box['id']}
            names = labeled['categories'][0]['keypoints']
            xyv = np.array(person['keypoints']).reshape(len(names), 3)
            for name, (x, y, v) in zip(names, xyv):
                if key == QUERY[1] and box['id'] == 'r1_0' and name == names[-1]:
                    assert v == 0
                    continue
                assert v == 2
                assert x == pytest.approx(
                    points[name]['x'] * box['original_width'] / 100, rel=1e-4)
                assert y == pytest.approx(
                    points[name]['y'] * box['original_height'] / 100, rel=1e-4)
    assert annotations_of(labeled, QUERY[1])[0]['num_keypoints'] == 16


def test_label_studio_classification_round_trip(label_studio, data, tmp_path):
    """One choice per image; one corrected, one not done."""
    query = open_query(data, str(tmp_path / 'work_dir'), task='classification')

    def answer(key, result):
        if key == QUERY[0]:
            result[0]['value']['choices'] = [CLASSES[2]]
        return result if key != QUERY[3] else None

    sent, labeled = round_trip(label_studio, query, answer, tmp_path)
    assert missing_keys(query['work_dir']) == [QUERY[3]]
    names = {c['id']: c['name'] for c in labeled['categories']}
    chosen = {key: [names[a['category_id']] for a in annotations_of(labeled, key)]
              for key in QUERY[:3]}
    assert chosen[QUERY[0]] == [CLASSES[2]]
    for key in QUERY[1:3]:
        assert chosen[key] == sent[key][0]['value']['choices']
