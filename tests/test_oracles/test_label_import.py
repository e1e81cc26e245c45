"""``tools/al_import.py`` on detection queries: COCO and Label Studio exports,
partial imports, and every kind of bad input (which must change nothing)."""
import os
import os.path as osp
import stat
import subprocess
import sys
import time

import pytest
from pycocotools.coco import COCO

from mmal.oracles import labeled_path, missing_keys, read_awaiting
from mmal.testing.al_runs import REPO
from mmal.testing.human_labels import (CLASSES, QUERY, accept_predictions,
                                       annotate_tasks, close_query, copy_query,
                                       exported_coco, exported_labelstudio,
                                       hash_tree, load_tool, open_query)
from mmal.testing.human_labels import read_json as read
from mmal.testing.human_labels import write_json as write

al_import = load_tool('al_import')


def run_import(query, file, *args, capsys):
    code = al_import.main([query['work_dir'], str(file), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def labels_by_key(work_dir):
    """key -> sorted (category name, rounded xywh) of labeled.json."""
    coco = COCO(labeled_path(work_dir))
    result = {}
    for img_id, image in coco.imgs.items():
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        result[image['file_name']] = sorted(
            (coco.cats[a['category_id']]['name'],
             tuple(round(v, 1) for v in a['bbox'])) for a in anns)
    return result


def ls_tasks(query):
    return read(osp.join(query['query_dir'], 'labelstudio_tasks.json'))


def test_coco_round_trip(det_copy, data, tmp_path, capsys):
    user_hash = hash_tree(data['ann_file'])
    before = labels_by_key(det_copy['work_dir'])
    coco = exported_coco(det_copy)
    # The annotator moves one box and deletes another one.
    coco['annotations'][0]['bbox'] = [5, 6, 40, 30]
    del coco['annotations'][1]
    code, out, err = run_import(det_copy, write(coco, tmp_path / 'fixed.json'),
                                capsys=capsys)
    assert code == 0, err
    assert 'all queried images are labeled' in out
    labels = labels_by_key(det_copy['work_dir'])
    assert {k: v for k, v in labels.items() if k in before} == before
    names = {c['id']: c['name'] for c in coco['categories']}
    for image in coco['images']:
        expected = sorted((names[a['category_id']], tuple(round(v, 1)
                                                         for v in a['bbox']))
                          for a in coco['annotations']
                          if a['image_id'] == image['id'])
        assert labels[image['file_name']] == expected
    assert (5, 6, 40, 30) in [box for _, box in labels[QUERY[0]]]
    # The user's categories keep their ids; the user's file is never written.
    assert [c['id'] for c in read(labeled_path(det_copy['work_dir']))
            ['categories']] == [3, 4, 5]
    assert hash_tree(data['ann_file']) == user_hash
    assert missing_keys(det_copy['work_dir']) == []
    versions = sorted(hash_tree(osp.join(det_copy['work_dir'], 'labels',
                                         'versions')))
    assert [osp.basename(v) for v in versions] == ['labeled_0000.json',
                                                    'labeled_0001.json']
    assert read(versions[0]) == read(data['ann_file'])


def test_mmdet_trains_on_the_merged_labels(det_copy, data, tmp_path, capsys):
    from mmdet.datasets import CocoDataset
    coco = exported_coco(det_copy)
    assert run_import(det_copy, write(coco, tmp_path / 'l.json'),
                      capsys=capsys)[0] == 0
    dataset = CocoDataset(ann_file=labeled_path(det_copy['work_dir']),
                          data_prefix=dict(img=data['img_root'] + '/'),
                          metainfo=dict(classes=CLASSES),
                          filter_cfg=dict(filter_empty_gt=False), pipeline=[])
    infos = {osp.relpath(dataset.get_data_info(i)['img_path'], data['img_root']):
             dataset.get_data_info(i) for i in range(len(dataset))}
    assert set(QUERY) <= set(infos)
    assert len(infos[QUERY[0]]['instances']) == 2
    assert osp.isfile(infos[QUERY[0]]['img_path'])


def test_label_studio_partial_imports(det_copy, tmp_path, capsys):
    tasks = ls_tasks(det_copy)
    work_dir = det_copy['work_dir']
    # First session: image 0 accepted, image 1 annotated empty, 2 and 3 not done.
    answers = {QUERY[0]: accept_predictions, QUERY[1]: lambda task: []}
    export = annotate_tasks(tasks, lambda t: answers.get(
        t['data']['mmal_key'], lambda _: None)(t))
    code, out, err = run_import(det_copy, write(export, tmp_path / 'a.json'),
                                capsys=capsys)
    assert code == 0, err
    assert '2 queried images still await labels' in out
    assert missing_keys(work_dir) == QUERY[2:]
    labels = labels_by_key(work_dir)
    assert labels[QUERY[1]] == []            # labeled, no objects
    assert len(labels[QUERY[0]]) == 2
    # Second session: Label Studio exports every task again; image 0 was
    # corrected in the meantime and replaces its earlier labels.
    answers[QUERY[0]] = lambda task: accept_predictions(task)[:1]
    answers[QUERY[2]] = accept_predictions
    answers[QUERY[3]] = accept_predictions
    export = annotate_tasks(tasks, lambda t: answers[t['data']['mmal_key']](t))
    code, out, err = run_import(det_copy, write(export, tmp_path / 'b.json'),
                                capsys=capsys)
    assert code == 0, err
    assert 'replacing earlier labels' in out
    assert missing_keys(work_dir) == []
    labels = labels_by_key(work_dir)
    assert len(labels[QUERY[0]]) == 1
    # The EXIF-rotated image: percent of its displayed 160x240 size.
    region = tasks[2]['predictions'][0]['result'][0]['value']
    expected = (region['x'] * 1.6, region['y'] * 2.4, region['width'] * 1.6,
                region['height'] * 2.4)
    assert any(box == pytest.approx(expected, abs=0.06)
               for _, box in labels[QUERY[2]])
    assert len(hash_tree(osp.join(work_dir, 'labels', 'versions'))) == 3


def test_real_command_line(det_copy, tmp_path):
    coco = exported_coco(det_copy)
    coco['images'] = coco['images'][:1]
    coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] == 1]
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'al_import.py'),
         det_copy['work_dir'], write(coco, tmp_path / 'one.json'),
         '--format', 'coco'], capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 0, result.stderr
    assert '3 queried images still await labels' in result.stdout


# Bad inputs: each edits the exported COCO file or the Label Studio export and must
# be refused with a message naming the problem, leaving every file unchanged.
def _edited(export, edit):
    def make(query):
        exported = export(query)
        edit(exported)
        return exported
    return make


def _coco(edit):
    return _edited(exported_coco, edit)


def _ls(edit):
    return _edited(exported_labelstudio, edit)


def _set(obj, path, value):
    *head, last = path
    for part in head:
        obj = obj[part]
    obj[last] = value


BAD_INPUTS = {
    'not queried': (_coco(lambda c: _set(c, ['images', 0, 'file_name'],
                                         'park/img_005.jpg')),
                    "image 'park/img_005.jpg' was not queried"),
    'unknown category': (_coco(lambda c: _set(c, ['categories', 1, 'name'],
                                              'bicycle')),
                         "unknown category name 'bicycle'"),
    'unknown label in Label Studio': (
        _ls(lambda e: _set(e, [0, 'annotations', 0, 'result', 0, 'value',
                               'rectanglelabels'], ['bus'])),
        "unknown category name 'bus'"),
    'box outside': (_coco(lambda c: _set(c, ['annotations', 0, 'bbox'],
                                         [200, 10, 100, 20])),
                    'lies outside the 256x192 image'),
    'box outside in Label Studio': (
        _ls(lambda e: _set(e, [1, 'annotations', 0, 'result', 0, 'value', 'x'],
                           95.0)),
        'lies outside the 320x240 image'),
    'zero width': (_coco(lambda c: _set(c, ['annotations', 0, 'bbox'],
                                        [10, 10, 0, 20])),
                   'has non-positive size'),
    'negative height in Label Studio': (
        _ls(lambda e: _set(e, [0, 'annotations', 0, 'result', 0, 'value',
                               'height'], -3.0)),
        'has non-positive size'),
    'image twice': (_coco(lambda c: c['images'].append(
        dict(c['images'][0], id=99))), 'is annotated twice'),
    'two annotations of one task': (
        _ls(lambda e: e[0]['annotations'].append(
            dict(e[0]['annotations'][0], id=77))), 'is annotated twice'),
    'absolute file name': (_coco(lambda c: _set(c, ['images', 0, 'file_name'],
                                                '/etc/passwd')),
                           "'/etc/passwd' is absolute"),
    'escaping file name': (_coco(lambda c: _set(c, ['images', 0, 'file_name'],
                                                'park/../../secret.jpg')),
                           'escapes the data root'),
    'escaping Label Studio key': (
        _ls(lambda e: _set(e, [0, 'data', 'mmal_key'], '../x.jpg')),
        'escapes the data root'),
    'another work dir': (_coco(lambda c: _set(c, ['info', 'mmal_query'],
                                              '0123abcd/cycle_1')),
                         'was exported for another work dir'),
    'another cycle': (_ls(lambda e: e[2]['data'].update(
        mmal_query=e[2]['data']['mmal_query'].replace('cycle_1', 'cycle_0'))),
        'belongs to cycle_0'),
    'annotation of a missing image': (
        _coco(lambda c: _set(c, ['annotations', 0, 'image_id'], 42)),
        'image_id 42 is not in "images"'),
    'not a number': (_coco(lambda c: _set(c, ['annotations', 0, 'bbox'],
                                          [1, 2, 'x', 4])),
                     'must be 4 finite numbers'),
    'rotated box': (_ls(lambda e: _set(e, [0, 'annotations', 0, 'result', 0,
                                           'value', 'rotation'], 30)),
                    'rotated boxes are not supported'),
}


@pytest.mark.parametrize('case', sorted(BAD_INPUTS))
def test_bad_input_changes_nothing(case, det_copy, data, tmp_path, capsys):
    make, message = BAD_INPUTS[case]
    path = write(make(det_copy), tmp_path / 'labels.json')
    before = hash_tree(det_copy['work_dir'], data['ann_file'])
    code, out, err = run_import(det_copy, path, capsys=capsys)
    assert code == 1
    assert message in err and 'nothing was imported' in err
    assert hash_tree(det_copy['work_dir'], data['ann_file']) == before


def _nested(depth):
    return lambda query: '[' * depth + ']' * depth


# JSON of the wrong shape: (file content, the field the message must name).
WRONG_SHAPES = {
    'task data a number': (_ls(lambda e: _set(e, [0, 'data'], 5)),
                           'has no "data" object (got 5)'),
    'image a string': (_coco(lambda c: _set(c, ['images', 0], QUERY[0])),
                       'entry 0 of "images" is'),
    'COCO annotation a string': (_coco(lambda c: _set(c, ['annotations'], ['x'])),
                                 "entry 0 of \"annotations\" is 'x'"),
    'task annotation a string': (_ls(lambda e: _set(e, [0, 'annotations'], ['x'])),
                                 "entry 0 of \"annotations\" is 'x'"),
    'result a dict': (_ls(lambda e: _set(e, [0, 'annotations', 0, 'result'],
                                         {'type': 'rectanglelabels'})),
                      '"result" must be a list of objects'),
    'categories a dict': (_coco(lambda c: _set(c, ['categories'], {'1': 'car'})),
                          '"categories" must be a list of objects'),
    'info a string': (_coco(lambda c: _set(c, ['info'], 'x')),
                      '"info" must be an object'),
    'image id a list': (_coco(lambda c: _set(c, ['images', 0, 'id'], [1])),
                        'id must be a number or a string, got [1]'),
    'image_id a dict': (_coco(lambda c: _set(c, ['annotations', 0, 'image_id'],
                                             {'id': 1})),
                        'image_id must be a number or a string'),
    'region value a string': (
        _ls(lambda e: _set(e, [0, 'annotations', 0, 'result', 0, 'value'], 'x')),
        '"value" must be an object'),
    'labels a dict': (_ls(lambda e: _set(e, [0, 'annotations', 0, 'result', 0,
                                             'value', 'rectanglelabels'],
                                         {'0': 'car'})),
                      'a box needs exactly one label'),
    'region id a list': (_ls(lambda e: _set(e, [0, 'annotations', 0, 'result', 0,
                                                'id'], ['a'])),
                         "id must be a number or a string, got ['a']"),
    '200k nested arrays': (_nested(200_000), 'nests its JSON too deeply'),
}


@pytest.mark.parametrize('case', sorted(WRONG_SHAPES))
def test_wrong_shapes_change_nothing(case, det_copy, data, tmp_path, capsys):
    make, message = WRONG_SHAPES[case]
    content = make(det_copy)
    path = tmp_path / 'labels.json'
    if isinstance(content, str):
        path.write_text(content)
    else:
        write(content, path)
    before = hash_tree(det_copy['work_dir'], data['ann_file'])
    code, out, err = run_import(det_copy, path, capsys=capsys)
    assert code == 1
    first = err.splitlines()[0]
    assert first.startswith('error: ') and 'labels.json' in first, err
    assert message in err, err
    assert hash_tree(det_copy['work_dir'], data['ann_file']) == before


@pytest.mark.parametrize('content,message', [
    ('{"images": [{"id": 1, "file_na', 'is not a complete JSON file'),
    ('images,annotations\n1,2\n', 'is not a complete JSON file'),
    ('{"annotations": []}', 'is not a COCO file'),
])
def test_unreadable_files_change_nothing(content, message, det_copy, tmp_path,
                                         capsys):
    path = tmp_path / 'labels.json'
    path.write_text(content)
    before = hash_tree(det_copy['work_dir'])
    code, _, err = run_import(det_copy, path, capsys=capsys)
    assert code == 1 and message in err
    assert hash_tree(det_copy['work_dir']) == before


def test_clip_option(det_copy, tmp_path, capsys):
    coco = exported_coco(det_copy)
    coco['annotations'][0]['bbox'] = [200, 10, 100, 20]    # image is 256 wide
    path = write(coco, tmp_path / 'labels.json')
    assert run_import(det_copy, path, capsys=capsys)[0] == 1
    code, _, err = run_import(det_copy, path, '--clip', capsys=capsys)
    assert code == 0, err
    boxes = [box for _, box in labels_by_key(det_copy['work_dir'])[QUERY[0]]]
    assert (200, 10, 56, 20) in boxes


def test_unannotated_coco_images_stay_awaited(det_copy, tmp_path, capsys):
    coco = exported_coco(det_copy)
    coco['images'] = [i for i in coco['images'] if i['file_name'] != QUERY[3]]
    coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] != 4]
    # An image listed without annotations is labeled "no objects".
    coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] != 2]
    assert run_import(det_copy, write(coco, tmp_path / 'l.json'),
                      capsys=capsys)[0] == 0
    assert missing_keys(det_copy['work_dir']) == [QUERY[3]]
    assert labels_by_key(det_copy['work_dir'])[QUERY[1]] == []


def test_nothing_awaited(det_copy, tmp_path, capsys):
    coco = exported_coco(det_copy)
    path = write(coco, tmp_path / 'l.json')
    close_query(det_copy['work_dir'])
    before = hash_tree(det_copy['work_dir'])
    code, _, err = run_import(det_copy, path, capsys=capsys)
    assert code == 1 and 'No query awaits labels' in err
    assert hash_tree(det_copy['work_dir']) == before
    with pytest.raises(FileNotFoundError):
        read_awaiting(det_copy['work_dir'])


def test_labeled_set_in_another_root(data, tmp_path, capsys):
    """Pool keys are relative to the pool's root; labeled.json lists them
    relative to the labeled set's root."""
    from mmal.oracles import init_labels
    from mmal.testing.human_labels import query_predictions, write_open_query
    work_dir = str(tmp_path / 'wd')
    init_labels(work_dir, data['ann_file'])
    write_open_query(work_dir, osp.join(data['img_root'], 'street'), data['root'],
                     [dict(key='img_000.jpg', score=0.5)],
                     query_predictions('detection', {})[1:2],
                     dict(classes=CLASSES), 'detection', cycle=0)
    coco = read(osp.join(work_dir, 'queries', 'cycle_0', 'coco_predictions.json'))
    assert coco['images'][0]['file_name'] == 'img_000.jpg'
    assert al_import.main([work_dir, write(coco, tmp_path / 'l.json')]) == 0
    names = [i['file_name'] for i in read(labeled_path(work_dir))['images']]
    assert names[-1] == 'images/street/img_000.jpg'


def test_label_studio_key_from_the_image_url(det_copy, tmp_path, capsys):
    """Tasks that lost mmal's fields are matched by their local-files URL."""
    export = exported_labelstudio(det_copy)
    for task in export:
        task['data'] = dict(image=task['data']['image'])
    assert export[1]['data']['image'] == '/data/local-files/?d=street/img_000.jpg'
    code, out, err = run_import(det_copy, write(export, tmp_path / 'l.json'),
                                capsys=capsys)
    assert code == 0, err
    assert missing_keys(det_copy['work_dir']) == []


# Two al_import.py processes, each waiting for its own start signal: the test
# releases both at the same instant, once per trial.
RACER = """
import os, sys, time
from mmal.testing.human_labels import load_tool
main = load_tool('al_import').main
signals, name, *trials = sys.argv[1:]
for n, trial in enumerate(trials):
    work_dir, labels = trial.split(os.pathsep)
    open(os.path.join(signals, f'ready_{n}_{name}'), 'w').close()
    while not os.path.exists(os.path.join(signals, f'go_{n}')):
        time.sleep(0.0005)
    code = main([work_dir, labels])
    with open(os.path.join(signals, f'done_{n}_{name}'), 'w') as f:
        f.write(str(code))
"""


def _wait_for(*paths, timeout=120):
    deadline = time.monotonic() + timeout
    while not all(osp.exists(p) for p in paths):
        assert time.monotonic() < deadline, f'no {paths} after {timeout} s'
        time.sleep(0.001)


def test_concurrent_imports_keep_both_labels(det_query_template, tmp_path):
    """Each process labels another image; over repeated trials both labels are
    kept, each import writes its own version, and only the rest stay awaited."""
    trials, names = 8, ('a', 'b')
    coco = exported_coco(det_query_template)
    files = {}
    for name, key in zip(names, QUERY):
        one = dict(coco, images=[i for i in coco['images'] if i['file_name'] == key])
        ids = {i['id'] for i in one['images']}
        one['annotations'] = [a for a in coco['annotations'] if a['image_id'] in ids]
        files[name] = write(one, tmp_path / f'{name}.json')
    work_dirs = [copy_query(det_query_template, str(tmp_path / f'work_{n}'))
                 ['work_dir'] for n in range(trials)]
    signals = str(tmp_path / 'signals')
    os.makedirs(signals)
    env = dict(os.environ, PYTHONPATH=REPO)
    racers = [subprocess.Popen(
        [sys.executable, '-c', RACER, signals, name,
         *[os.pathsep.join([w, files[name]]) for w in work_dirs]],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in names]
    try:
        for n in range(trials):
            _wait_for(*[osp.join(signals, f'ready_{n}_{name}') for name in names])
            open(osp.join(signals, f'go_{n}'), 'w').close()
            _wait_for(*[osp.join(signals, f'done_{n}_{name}') for name in names])
    finally:
        outputs = [racer.communicate(timeout=60) for racer in racers]
    for racer, (out, err) in zip(racers, outputs):
        assert racer.returncode == 0, err
    for n, work_dir in enumerate(work_dirs):
        for name in names:
            with open(osp.join(signals, f'done_{n}_{name}')) as f:
                assert f.read() == '0'
        labels = labels_by_key(work_dir)
        boxes = {key: len(labels.get(key, ())) for key in QUERY[:2]}
        assert boxes == {QUERY[0]: 2, QUERY[1]: 2}, f'trial {n}'
        assert missing_keys(work_dir) == QUERY[2:], f'trial {n}'
        versions = os.listdir(osp.join(work_dir, 'labels', 'versions'))
        assert sorted(versions) == [f'labeled_000{v}.json' for v in range(3)]


def test_export_and_labels_are_readable_by_others(data, tmp_path, capsys):
    """With umask 022 every file of the query export and the labeled set is
    0644, so that an annotation tool running as another user can read it."""
    old = os.umask(0o022)
    try:
        query = open_query(data, str(tmp_path / 'work_dir'), contact_sheet=True)
        assert run_import(query, write(exported_coco(query), tmp_path / 'l.json'),
                          capsys=capsys)[0] == 0
    finally:
        os.umask(old)
    modes = {osp.relpath(path, query['work_dir']):
             stat.S_IMODE(os.stat(path).st_mode) for path in hash_tree(
                 query['work_dir'])}
    assert 'queries/cycle_1/contact_sheet.png' in modes
    assert 'labels/versions/labeled_0001.json' in modes
    assert modes == {path: 0o644 for path in modes}
