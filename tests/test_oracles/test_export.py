"""HumanOracle's query export for detection: csv, COCO predictions (pycocotools),
Label Studio tasks and config, contact sheet, the open query's record."""
import csv
import json
import os.path as osp
from xml.etree import ElementTree as ET

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from mmal.oracles import LabelsAwaited, Query, read_awaiting
from mmal.oracles.human import export_items
from mmal.oracles.contact_sheet import CAPTION, THUMB
from mmal.registry import ORACLES
from mmal.testing.human_labels import CLASSES, QUERY, open_query


def test_simulated_oracle_labels_the_chosen_keys(tmp_path):
    oracle = ORACLES.build(dict(type='SimulatedOracle'))
    query = Query(cycle=0, items=[dict(key='b', score=0.9),
                                  dict(key='a', score=None)],
                  query_size=2, subset_size=4)
    # None: every chosen sample is labeled at once, nothing is awaited.
    assert oracle.deliver(query) is None
    assert list(tmp_path.iterdir()) == []


def test_detection_export(data, tmp_path):
    query = open_query(data, str(tmp_path / 'work_dir'), contact_sheet=True)
    result, qdir = query['result'], query['query_dir']
    assert isinstance(result, LabelsAwaited) and result.keys == QUERY
    assert f'python tools/al_import.py {query["work_dir"]} ' in result.message()
    assert '--resume' in result.message('cfg.py')

    with open(osp.join(qdir, 'query.csv')) as f:
        rows = list(csv.DictReader(f))
    assert [r['key'] for r in rows] == QUERY
    assert [int(r['rank']) for r in rows] == [1, 2, 3, 4]
    assert float(rows[0]['score']) > float(rows[-1]['score'])
    assert rows[2]['img_path'] == osp.join(data['img_root'], 'rotated_004.jpg')
    # The EXIF-rotated image's displayed size.
    assert (int(rows[2]['width']), int(rows[2]['height'])) == (160, 240)

    coco = COCO(osp.join(qdir, 'coco_predictions.json'))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
    for img_id, key, sample in zip(sorted(coco.getImgIds()), QUERY,
                                   query['predictions']):
        assert coco.imgs[img_id]['file_name'] == key
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        inst = sample.pred_instances
        # Boxes over the 0.3 threshold, xyxy -> xywh, each with its score.
        assert [a['score'] for a in anns] == pytest.approx([0.9, 0.6])
        x1, y1, x2, y2 = inst.bboxes[0].tolist()
        assert anns[0]['bbox'] == pytest.approx([x1, y1, x2 - x1, y2 - y1])
        assert coco.cats[anns[0]['category_id']]['name'] == \
            CLASSES[int(inst.labels[0])]

    with open(osp.join(qdir, 'labelstudio_tasks.json')) as f:
        tasks = json.load(f)
    config = ET.parse(osp.join(qdir, 'labelstudio_config.xml')).getroot()
    labels = config.find('RectangleLabels')
    assert [label.get('value') for label in labels] == list(CLASSES)
    assert config.find('Image').get('value') == '$image'
    task = tasks[2]
    assert task['data']['image'] == '/data/local-files/?d=rotated_004.jpg'
    assert task['data']['mmal_key'] == 'rotated_004.jpg'
    prediction = task['predictions'][0]
    assert prediction['model_version'].startswith('mmal ')
    # Label Studio serves predictions by ascending score: rank 1 first.
    assert [t['predictions'][0]['score'] for t in tasks] == pytest.approx(
        [0.25, 0.5, 0.75, 1.0])
    assert [t['data']['mmal_rank'] for t in tasks] == [1, 2, 3, 4]
    region = prediction['result'][0]
    assert region['type'] == 'rectanglelabels'
    assert region['from_name'] == labels.get('name')
    assert region['to_name'] == config.find('Image').get('name')
    x1, y1, x2, y2 = query['predictions'][2].pred_instances.bboxes[0].tolist()
    assert region['value']['x'] == pytest.approx(100 * x1 / 160)
    assert region['value']['height'] == pytest.approx(100 * (y2 - y1) / 240)

    sheet = cv2.imread(osp.join(qdir, 'contact_sheet.png'))
    assert sheet.shape == (THUMB + CAPTION, 4 * THUMB, 3)
    # Tile 1 is the first query image with its predicted boxes drawn over it.
    plain = cv2.imread(osp.join(data['img_root'], QUERY[0]))
    scale = THUMB / max(plain.shape[:2])
    plain = cv2.resize(plain, None, fx=scale, fy=scale)
    tile = sheet[:plain.shape[0], :plain.shape[1]].astype(int)
    changed = np.abs(tile - plain.astype(int)).max(-1) > 60
    assert 0.005 < changed.mean() < 0.5

    awaiting = read_awaiting(query['work_dir'])
    assert awaiting['cycle'] == 1 and awaiting['task'] == 'detection'
    assert [item['key'] for item in awaiting['items']] == QUERY
    assert awaiting['query_id'] == tasks[0]['data']['mmal_query']
    assert awaiting['names'] == list(CLASSES)


def test_export_keys_stay_inside_the_image_root(data, tmp_path):
    info = [dict(img_path=osp.join(data['img_root'], QUERY[0]))]
    with pytest.raises(ValueError, match='escapes the data root'):
        export_items([dict(key='../x.jpg', score=1.0)], info, data['img_root'])
    with pytest.raises(ValueError, match='keys must be relative to img_root'):
        export_items([dict(key='img_002.jpg', score=1.0)], info, data['img_root'])
    assert list(tmp_path.iterdir()) == []
