"""Pose (keypoints per person box) and classification (a category per image) use
the detection export and import: COCO and Label Studio, with their bad inputs."""
import json
import os.path as osp
from xml.etree import ElementTree as ET

import cv2
import pytest
from pycocotools.coco import COCO

from mmal.oracles import labeled_path, missing_keys
from mmal.testing.human_labels import (CLASSES, QUERY, accept_predictions,
                                       annotate_tasks, copy_query, exported_coco,
                                       exported_labelstudio, hash_tree,
                                       load_tool, open_query)
from mmal.testing.human_labels import read_json as read
from mmal.testing.human_labels import write_json as write

al_import = load_tool('al_import')


@pytest.fixture(scope='module')
def pose_template(data, tmp_path_factory):
    return open_query(data, str(tmp_path_factory.mktemp('pose') / 'work_dir'),
                      task='pose', contact_sheet=True)


@pytest.fixture(scope='module')
def cls_template(data, tmp_path_factory):
    return open_query(data, str(tmp_path_factory.mktemp('cls') / 'work_dir'),
                      task='classification', contact_sheet=True)


def copy_of(template, tmp_path):
    return copy_query(template, str(tmp_path / 'work_dir'))


def test_pose_export(pose_template):
    qdir, metainfo = pose_template['query_dir'], pose_template['metainfo']
    names = [metainfo['keypoint_id2name'][i] for i in range(17)]
    coco = COCO(osp.join(qdir, 'coco_predictions.json'))
    assert coco.cats[1]['keypoints'] == names
    anns = coco.loadAnns(coco.getAnnIds(imgIds=1))
    inst = pose_template['predictions'][0].pred_instances
    assert len(anns) == 2 and anns[0]['score'] == pytest.approx(0.95)
    assert anns[0]['keypoints'][3:6] == pytest.approx(
        [*inst.keypoints[0, 1].tolist(), 2])
    tasks = read(osp.join(qdir, 'labelstudio_tasks.json'))
    result = tasks[0]['predictions'][0]['result']
    boxes = [r for r in result if r['type'] == 'rectanglelabels']
    points = [r for r in result if r['type'] == 'keypointlabels']
    assert len(boxes) == 2 and len(points) == 2 * 17
    assert {p['parentID'] for p in points} == {b['id'] for b in boxes}
    assert points[0]['value']['keypointlabels'] == [names[0]]
    assert points[0]['value']['x'] == pytest.approx(
        100 * inst.keypoints[0, 0, 0] / 256)
    config = ET.parse(osp.join(qdir, 'labelstudio_config.xml')).getroot()
    assert [label.get('value') for label in config.find('KeyPointLabels')] == names
    sheet = cv2.imread(osp.join(qdir, 'contact_sheet.png'))
    assert sheet is not None and sheet.shape[1] == 4 * 320


def person_count(labeled, key):
    image = next(i for i in labeled['images'] if i['file_name'] == key)
    return [a for a in labeled['annotations'] if a['image_id'] == image['id']]


def test_pose_label_studio_import(pose_template, tmp_path):
    query = copy_of(pose_template, tmp_path)
    tasks = read(osp.join(query['query_dir'], 'labelstudio_tasks.json'))

    def answer(task):
        result = accept_predictions(task)
        if task['data']['mmal_key'] == QUERY[1]:
            # The annotator deletes person 2 and a keypoint of person 1.
            keep = result[0]['id']
            result = [r for r in result if r['id'] == keep
                      or r.get('parentID') == keep][:-1]
        return result if task['data']['mmal_key'] != QUERY[3] else None

    export = annotate_tasks(tasks, answer)
    assert al_import.main([query['work_dir'], write(export, tmp_path / 'ls.json')]
                          ) == 0
    assert missing_keys(query['work_dir']) == [QUERY[3]]
    labeled = read(labeled_path(query['work_dir']))
    assert labeled['categories'][0]['keypoints'][0] == 'nose'
    people = person_count(labeled, QUERY[1])
    assert len(people) == 1 and people[0]['num_keypoints'] == 16
    assert people[0]['keypoints'][-1] == 0          # the deleted keypoint
    assert len(people[0]['keypoints']) == 3 * 17
    assert len(person_count(labeled, QUERY[0])) == 2


def test_pose_coco_import_in_mmpose(pose_template, data, tmp_path):
    from mmpose.datasets import CocoDataset
    query = copy_of(pose_template, tmp_path)
    coco = exported_coco(query)
    assert al_import.main([query['work_dir'], write(coco, tmp_path / 'c.json')]) \
        == 0
    dataset = CocoDataset(ann_file=labeled_path(query['work_dir']),
                          data_prefix=dict(img=data['img_root'] + '/'),
                          pipeline=[])
    assert len(dataset) == len(coco['annotations'])
    info = dataset.get_data_info(0)
    assert info['keypoints'].shape == (1, 17, 2)


def _ls_pose(edit):
    """Edit the result of the first task."""
    def make(query):
        export = exported_labelstudio(query)
        edit(export[0]['annotations'][0]['result'])
        return export
    return make


def _coco_pose(edit):
    """Edit the first person."""
    def make(query):
        coco = exported_coco(query)
        edit(coco['annotations'][0])
        return coco
    return make


POSE_BAD = {
    'keypoint beyond the image': (
        _coco_pose(lambda a: a['keypoints'].__setitem__(0, 300.0)),
        "keypoint 'nose' at (300"),
    'keypoint beyond the image in Label Studio': (
        _ls_pose(lambda r: r[1]['value'].update(y=120.0)),
        'lies beyond the 256x192 image'),
    'wrong number of keypoints': (
        _coco_pose(lambda a: a.update(keypoints=a['keypoints'][:-3])),
        'keypoints (17 x [x, y, v]) must be 51 finite numbers'),
    'unknown keypoint name': (
        _ls_pose(lambda r: r[1]['value'].update(keypointlabels=['tail'])),
        "unknown keypoint ['tail']"),
    'keypoint of no person': (
        _ls_pose(lambda r: r[1].pop('parentID')),
        'cannot tell which person'),
    'keypoint placed twice': (
        _ls_pose(lambda r: r.append(dict(r[1], id='again'))),
        'is placed twice'),
    'box not a person': (
        _ls_pose(lambda r: r[0]['value'].update(rectanglelabels=['dog'])),
        "unknown category name 'dog'"),
}


@pytest.mark.parametrize('case', sorted(POSE_BAD))
def test_pose_bad_input_changes_nothing(case, pose_template, tmp_path, capsys):
    query = copy_of(pose_template, tmp_path)
    make, message = POSE_BAD[case]
    path = write(make(query), tmp_path / 'labels.json')
    before = hash_tree(query['work_dir'])
    assert al_import.main([query['work_dir'], path]) == 1
    assert message in capsys.readouterr().err
    assert hash_tree(query['work_dir']) == before


def test_classification_export_and_import(cls_template, tmp_path, capsys):
    qdir = cls_template['query_dir']
    coco = COCO(osp.join(qdir, 'coco_predictions.json'))
    for img_id, sample in zip(sorted(coco.imgs), cls_template['predictions']):
        (ann,) = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        label = int(sample.pred_label)
        assert coco.cats[ann['category_id']]['name'] == CLASSES[label]
        assert ann['score'] == pytest.approx(float(sample.pred_score[label]))
        assert 'bbox' not in ann
    tasks = read(osp.join(qdir, 'labelstudio_tasks.json'))
    region = tasks[0]['predictions'][0]['result'][0]
    assert region['type'] == 'choices' and region['value']['choices'][0] in CLASSES
    config = ET.parse(osp.join(qdir, 'labelstudio_config.xml')).getroot()
    assert [c.get('value') for c in config.find('Choices')] == list(CLASSES)
    assert cv2.imread(osp.join(qdir, 'contact_sheet.png')) is not None

    query = copy_of(cls_template, tmp_path)

    def answer(task):
        if task['data']['mmal_key'] == QUERY[0]:
            return [dict(accept_predictions(task)[0], value=dict(
                choices=['traffic light']))]
        return accept_predictions(task)

    export = annotate_tasks(tasks, answer)
    bad = json.loads(json.dumps(export))
    bad[1]['annotations'][0]['result'] = []
    before = hash_tree(query['work_dir'])
    assert al_import.main([query['work_dir'], write(bad, tmp_path / 'b.json')]) \
        == 1
    assert 'the image has no choice' in capsys.readouterr().err
    assert hash_tree(query['work_dir']) == before
    assert al_import.main([query['work_dir'], write(export, tmp_path / 'l.json')]) \
        == 0
    labeled = COCO(labeled_path(query['work_dir']))
    by_key = {labeled.imgs[a['image_id']]['file_name']:
              labeled.cats[a['category_id']]['name']
              for a in labeled.dataset['annotations']}
    assert by_key[QUERY[0]] == 'traffic light'
    assert len(by_key) == 4 and missing_keys(query['work_dir']) == []


def _second_image_anns(coco):
    return [a for a in coco['annotations'] if a['image_id'] == 2]


@pytest.mark.parametrize('edit, message', [
    (lambda coco, anns: coco['annotations'].remove(anns[0]),
     "image id 2 ('street/img_000.jpg') has no annotation"),
    (lambda coco, anns: coco['annotations'].append(dict(
        anns[0], id=99, category_id=anns[0]['category_id'] % 3 + 1)),
     'has annotations of 2 categories'),
], ids=['no annotation', 'two classes'])
def test_classification_coco_needs_one_class(edit, message, cls_template,
                                             tmp_path, capsys):
    query = copy_of(cls_template, tmp_path)
    coco = exported_coco(query)
    edit(coco, _second_image_anns(coco))
    before = hash_tree(query['work_dir'])
    assert al_import.main([query['work_dir'], write(coco, tmp_path / 'l.json')]) \
        == 1
    assert message in capsys.readouterr().err
    assert hash_tree(query['work_dir']) == before


def test_classification_coco_same_class_twice_is_one_label(cls_template, tmp_path):
    query = copy_of(cls_template, tmp_path)
    coco = exported_coco(query)
    coco['annotations'].append(dict(_second_image_anns(coco)[0], id=99))
    assert al_import.main([query['work_dir'], write(coco, tmp_path / 'l.json')]) \
        == 0
    labeled = COCO(labeled_path(query['work_dir']))
    assert len(labeled.dataset['annotations']) == len(QUERY)
