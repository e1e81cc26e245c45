"""``LabelStudioOracle`` against a real Label Studio 1.23 on 127.0.0.1: queries
pushed as tasks with pre-annotations, annotations answered over its REST API as
an annotator would, pulled by the run itself (``--resume`` or ``wait=True``), and
every failure the oracle names a fix for."""
import os
import os.path as osp
import subprocess
import sys
import threading
import time

import pytest
from mmengine.config import Config

from mmal.oracles import labeled_path
from mmal.oracles.formats.label_studio import CHOICE, IMAGE
from mmal.testing import detection_folder as det_folder
from mmal.testing.al_runs import REPO, read_state
from mmal.testing.classification_folder import small_config, write_folder
from mmal.testing.human_labels import read_json, write_json
from mmal.testing.label_studio import Forwarder
from mmal.testing.tiny_runs import run

pytestmark = pytest.mark.labelstudio


@pytest.fixture
def folder(tmp_path):
    return write_folder(str(tmp_path / 'my_images'))


def oracle_options(label_studio, project, **options):
    """``train_cfg.oracle`` for the test server; images served from the
    session's temporary folder, Label Studio's document root."""
    return dict(dict(type='LabelStudioOracle', url=label_studio.url,
                     project=project, poll_s=0.5, contact_sheet=False,
                     document_root=label_studio.document_root), **options)


def classification_cfg(folder, tmp_path, label_studio, project, **options):
    cfg = Config.fromfile(small_config(str(tmp_path / 'small.py'), folder))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.oracle = oracle_options(label_studio, project, **options)
    return cfg


@pytest.fixture
def api_key(label_studio, monkeypatch):
    monkeypatch.setenv('LABEL_STUDIO_API_KEY', label_studio.token)


def project_named(label_studio, title):
    found = [p for p in label_studio.projects() if p['title'] == title]
    assert len(found) == 1, found
    return found[0]


def choice(name):
    return [dict(from_name=CHOICE, to_name=IMAGE, type='choices',
                 value=dict(choices=[name]))]


def resumed(cfg, **train_cfg):
    cfg = cfg.copy()
    cfg.merge_from_dict(dict(train_cfg=dict(resume=True, **train_cfg)))
    return cfg


def test_classification_round_pushed_and_pulled(folder, tmp_path, label_studio,
                                                api_key):
    cfg = classification_cfg(folder, tmp_path, label_studio, 'cls round')
    runner = run(cfg)
    state = read_state(cfg.work_dir)
    queried = [q['key'] for q in state['awaiting']['queried']]
    assert len(queried) == 2
    assert 'label them at' in runner.train_loop.awaited.message('cfg.py')
    project = project_named(label_studio, 'cls round')
    assert state['awaiting']['oracle']['project'] == project['id']
    # The project was made from the classes, and its queue serves this query.
    assert '<Choice value="cat"/>' in project['label_config']
    version = state['awaiting']['oracle']['model_version']
    assert project['model_version'] == version
    assert project['sampling'] == 'Uncertainty sampling'
    tasks = label_studio.tasks(project['id'])
    assert sorted(t['data']['mmal_key'] for t in tasks) == sorted(queried)
    assert all(t['predictions'][0]['model_version'] == version for t in tasks)
    # Label Studio serves the images from the folder itself (local files).
    image = label_studio.session.get(
        label_studio.url + tasks[0]['data']['image'],
        headers={'Authorization': f'Token {label_studio.token}'}, timeout=30)
    assert image.status_code == 200 and image.content[:4] in (b'\x89PNG',
                                                              b'\xff\xd8\xff\xe0',
                                                              b'\xff\xd8\xff\xe1')

    by_key = {t['data']['mmal_key']: t for t in tasks}
    label_studio.annotate(by_key[queried[0]]['id'], choice('dog'))
    # One of two labeled: --resume refuses and names the project's page.
    with pytest.raises(Exception, match='1 of the 2 queried images are not '
                       'labeled yet.*Label them at http://.*/projects/'):
        run(resumed(cfg))
    assert read_state(cfg.work_dir)['awaiting'] is not None
    label_studio.annotate(by_key[queried[1]]['id'], choice('cat'))
    run(resumed(cfg))
    history = read_state(cfg.work_dir)['history']
    assert [r['num_labeled'] for r in history] == [4, 6]
    assert [q['key'] for q in history[0]['queried']] == queried
    labeled = read_json(labeled_path(cfg.work_dir))
    names = {c['id']: c['name'] for c in labeled['categories']}
    ids = {i['file_name']: i['id'] for i in labeled['images']}
    classes = {a['image_id']: names[a['category_id']]
               for a in labeled['annotations']}
    assert classes[ids[queried[0]]] == 'dog' and classes[ids[queried[1]]] == 'cat'


def test_cold_start_pushed_without_predictions(folder, tmp_path, label_studio,
                                               api_key):
    """No label at all: TypiClust's initial set goes to Label Studio as tasks
    without pre-annotations, in its order; the pulled labels train cycle 0,
    whose query is pushed with the model's predictions."""
    cfg = classification_cfg(folder, tmp_path, label_studio, 'cls cold')
    cfg.merge_from_dict({'train_dataloader.dataset.ann_file': 'nothing_yet.json',
                         'train_cfg.initial_size': 4,
                         'train_cfg.initial_strategy': dict(type='TypiClustStrategy'),
                         'train_cfg.initial_features': dict(
                             type='TargetBackboneFeatures')})
    run(cfg)
    state = read_state(cfg.work_dir)
    assert state['history'] == [] and state['awaiting']['cycle'] is None
    queried = [q['key'] for q in state['awaiting']['queried']]
    assert len(set(queried)) == 4
    project = project_named(label_studio, 'cls cold')
    tasks = label_studio.tasks(project['id'])
    assert not any(t['predictions'] for t in tasks)
    by_rank = sorted(tasks, key=lambda t: t['data']['mmal_rank'])
    assert [t['data']['mmal_key'] for t in by_rank] == queried
    # No model version to point at: the queue serves by task id, mmal's order.
    assert [t['id'] for t in by_rank] == sorted(t['id'] for t in tasks)
    assert project['sampling'] == 'Sequential sampling'
    for n, task in enumerate(by_rank):
        label_studio.annotate(task['id'], choice(('cat', 'dog')[n % 2]))
    run(resumed(cfg))
    state = read_state(cfg.work_dir)
    assert [r['num_labeled'] for r in state['history']] == [4]
    assert [q['key'] for q in state['initial_query']['queried']] == queried
    assert classes_of(cfg.work_dir) == {key: ('cat', 'dog')[n % 2]
                                        for n, key in enumerate(queried)}
    # Cycle 0's model chose the next images; they carry its predictions.
    nxt = [q['key'] for q in state['awaiting']['queried']]
    assert state['awaiting']['cycle'] == 0 and not set(nxt) & set(queried)
    version = state['awaiting']['oracle']['model_version']
    project = project_named(label_studio, 'cls cold')
    assert project['model_version'] == version
    assert project['sampling'] == 'Uncertainty sampling'
    pushed = {t['data']['mmal_key']: t for t in label_studio.tasks(project['id'])}
    assert all(pushed[key]['predictions'][0]['model_version'] == version
               for key in nxt)


def test_refused_before_any_training(folder, tmp_path, label_studio, api_key,
                                     monkeypatch):
    """Each problem stops the run before cycle 0 with the fix, and writes no
    state: a wrong key, no key, no server, a project of another task."""
    cfg = classification_cfg(folder, tmp_path, label_studio, 'cls refused')
    state = osp.join(cfg.work_dir, 'al_state.json')
    monkeypatch.setenv('LABEL_STUDIO_API_KEY', 'not-the-key')
    with pytest.raises(Exception, match=r'refused the API key in '
                       r'\$LABEL_STUDIO_API_KEY \(HTTP 401'):
        run(cfg)
    monkeypatch.delenv('LABEL_STUDIO_API_KEY')
    with pytest.raises(Exception, match='Set LABEL_STUDIO_API_KEY'):
        run(cfg)
    monkeypatch.setenv('LABEL_STUDIO_API_KEY', label_studio.token)
    closed = Forwarder(label_studio.url)  # a port nobody listens on
    cfg.train_cfg.oracle.url = closed.url
    with pytest.raises(Exception, match=f'does not answer at {closed.url}'):
        run(cfg)
    cfg.train_cfg.oracle.url = label_studio.url
    # A project of the same title for other classes is not taken over.
    label_studio.create_project('cls refused', label_studio_config(
        'classification', ['cat', 'bird']))
    with pytest.raises(Exception, match=r"does not fit this classification run: "
                       r".*has the labels \['cat', 'bird'\], mmal needs "
                       r"\['cat', 'dog'\]"):
        run(cfg)
    assert not osp.exists(state)


def label_studio_config(task, names):
    from mmal.oracles.formats.label_studio import labeling_config
    from mmal.oracles.tasks import get_task
    return labeling_config(get_task(task), names)


def test_faults_between_rounds(folder, tmp_path, label_studio, api_key):
    """A query pushed twice, a skipped and a deleted task, an annotation edited
    after its import, and a deleted project."""
    cfg = classification_cfg(folder, tmp_path, label_studio, 'cls faults')
    cfg.train_cfg.cycles = 4
    cfg.train_dataloader.drop_last = True  # BatchNorm refuses a batch of 1
    run(cfg)
    project = project_named(label_studio, 'cls faults')['id']
    first = read_state(cfg.work_dir)['awaiting']['queried']
    pushed = {t['data']['mmal_key']: t['id'] for t in label_studio.tasks(project)}

    # Killed after the push, before the state recorded it: the resumed run
    # chooses the same images and pushes no task twice.
    path = osp.join(cfg.work_dir, 'al_state.json')
    state = read_json(path)
    state['awaiting'] = None
    write_json(state, path)
    run(resumed(cfg))
    assert read_state(cfg.work_dir)['awaiting']['queried'] == first
    assert {t['data']['mmal_key']: t['id']
            for t in label_studio.tasks(project)} == pushed

    # One labeled, one skipped: the skipped one is still awaited.
    labeled, skipped = [q['key'] for q in first]
    label_studio.annotate(pushed[labeled], choice('dog'))
    label_studio.annotate(pushed[skipped], [], cancelled=True)
    with pytest.raises(Exception, match=r'1 of the 2 .* \(e.g. \[.*'
                       f'{skipped}.*; 1 skipped\\)'):
        run(resumed(cfg))
    # Deleted in Label Studio: back to the pool.
    label_studio.delete_task(pushed[skipped])
    run(resumed(cfg))
    state = read_state(cfg.work_dir)
    assert state['history'][0]['returned_to_pool'] == [skipped]
    assert [q['key'] for q in state['history'][0]['queried']] == [labeled]
    assert [r['num_labeled'] for r in state['history']] == [4, 5]
    assert skipped not in {item['key'] for item in state['labeled']}

    # Round 2, and the annotator corrects round 1's label meanwhile.
    second = [q['key'] for q in state['awaiting']['queried']]
    tasks = {t['data']['mmal_key']: t for t in label_studio.tasks(project)}
    assert sorted(tasks) == sorted([labeled] + second)
    annotation = tasks[labeled]['annotations'][0]['id']
    label_studio.edit_annotation(annotation, choice('cat'))
    for key in second:
        label_studio.annotate(tasks[key]['id'], choice('dog'))
    run(resumed(cfg))
    assert classes_of(cfg.work_dir) == {labeled: 'cat', second[0]: 'dog',
                                        second[1]: 'dog'}

    # The project is deleted while round 3 is out.
    label_studio.delete_project(project)
    with pytest.raises(Exception, match='no longer exists.*--allow-partial'):
        run(resumed(cfg))
    run(resumed(cfg, allow_partial=True))
    state = read_state(cfg.work_dir)
    assert len(state['history']) == 4 and state['awaiting'] is None
    assert len(state['history'][2]['returned_to_pool']) == 2
    # Extended, the next query creates the project anew.
    run(resumed(cfg, cycles=5))
    assert read_state(cfg.work_dir)['awaiting']['oracle']['project'] != project
    assert project_named(label_studio, 'cls faults')['id'] != project


def classes_of(work_dir):
    labeled = read_json(labeled_path(work_dir))
    names = {c['id']: c['name'] for c in labeled['categories']}
    files = {i['id']: i['file_name'] for i in labeled['images']}
    return {files[a['image_id']]: names[a['category_id']]
            for a in labeled['annotations']
            if not files[a['image_id']].startswith('labeled/')}


def test_server_stopped_while_waiting(folder, tmp_path, label_studio, api_key):
    """The server goes away while the run waits: it stops with the fix; after a
    restart ``--resume`` waits on and trains on the labels."""
    forwarder = Forwarder(label_studio.url).start()
    cfg = classification_cfg(folder, tmp_path, label_studio, 'cls stopped',
                             url=forwarder.url, wait=True)

    def stop_once_waiting():
        path = osp.join(cfg.work_dir, 'al_state.json')
        while not (osp.isfile(path) and read_json(path).get('awaiting')):
            time.sleep(0.2)
        forwarder.stop()

    stopper = threading.Thread(target=stop_once_waiting, daemon=True)
    stopper.start()
    with pytest.raises(Exception, match=f'{forwarder.url} stopped answering while '
                       'this run waited.*Nothing is lost: start it again, then '
                       'resume'):
        run(cfg)
    stopper.join()
    state = read_state(cfg.work_dir)
    assert state['awaiting'] is not None and len(state['history']) == 1
    forwarder.start()
    project = project_named(label_studio, 'cls stopped')['id']
    for task in label_studio.tasks(project):
        label_studio.annotate(task['id'], choice('cat'))
    run(resumed(cfg))
    assert [r['num_labeled'] for r in read_state(cfg.work_dir)['history']] == [4, 6]
    forwarder.stop()


def query_tasks(label_studio, project, name, count, timeout=900):
    """The ``count`` tasks of query ``name`` once Label Studio has them, in rank
    order."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = [t for t in label_studio.tasks(project)
                 if t['data']['mmal_query'].endswith('/' + name)]
        if len(tasks) == count:
            return sorted(tasks, key=lambda t: t['data']['mmal_rank'])
        assert time.monotonic() < deadline, f'no {count} tasks of {name}'
        time.sleep(0.5)


def true_boxes(task, folder):
    return [det_folder.box_result(det_folder.true_box(), size_of(task, folder))]


def wait_for_project(label_studio, title, timeout=900):
    deadline = time.monotonic() + timeout
    while True:
        found = [p for p in label_studio.projects() if p['title'] == title]
        if found:
            return found[0]['id']
        assert time.monotonic() < deadline, f'no project {title!r}'
        time.sleep(0.5)


def test_detection_rounds_run_themselves(tmp_path, label_studio, api_key):
    """One ``al_train.py`` with ``wait=True``: round 1 is labeled in Label Studio
    while the run waits (a prediction corrected, an image empty, one task answered
    late), round 2 likewise until the run is killed; ``--resume`` takes round 2's
    labels and finishes. No file is handed over."""
    folder = det_folder.write_folder(str(tmp_path / 'my_images'))
    config = det_folder.small_config(str(tmp_path / 'small.py'), folder)
    work_dir = str(tmp_path / 'work')
    oracle = oracle_options(label_studio, 'det-rounds', wait=True)
    options = ['--cfg-options'] + [f'train_cfg.oracle.{k}={v}' for k, v in
                                   oracle.items() if k != 'type'] + [
        'train_cfg.oracle.type=LabelStudioOracle']
    command = [sys.executable, osp.join(REPO, 'tools', 'al_train.py'), config,
               '--work-dir', work_dir, *options]
    env = dict(os.environ, PYTHONPATH=REPO)
    started = time.monotonic()
    log = open(tmp_path / 'run.log', 'w')
    process = subprocess.Popen(command, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        project = wait_for_project(label_studio, 'det-rounds')
        tasks = query_tasks(label_studio, project, 'cycle_0', 4)
        # Label Studio serves the predictions in mmal's order.
        by_score = sorted(tasks, key=lambda t: t['predictions'][0]['score'])
        assert [t['data']['mmal_rank'] for t in by_score] == [1, 2, 3, 4]
        assert label_studio.next_task(project)['id'] == tasks[0]['id']
        # Rank 1's prediction corrected to the true box, nothing in rank 2,
        # rank 3 labeled, rank 4 later.
        label_studio.annotate(tasks[0]['id'], true_boxes(tasks[0], folder))
        label_studio.annotate(tasks[1]['id'], [])
        label_studio.annotate(tasks[2]['id'], true_boxes(tasks[2], folder))
        time.sleep(3)  # several polls: the run waits for the last one
        assert process.poll() is None
        state = read_state(work_dir)
        assert len(state['history']) == 1 and state['awaiting']['cycle'] == 0
        label_studio.annotate(tasks[3]['id'], true_boxes(tasks[3], folder))
        round_2 = query_tasks(label_studio, project, 'cycle_1', 2)
        assert process.poll() is None
        process.kill()  # killed while it waits for round 2
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    for task in round_2:
        label_studio.annotate(task['id'], true_boxes(task, folder))
    resumed_run = subprocess.run(command + ['--resume'], env=env,
                                 capture_output=True, text=True, timeout=900)
    assert resumed_run.returncode == 0, resumed_run.stderr[-3000:]
    wall = time.monotonic() - started
    state = read_state(work_dir)
    assert [r['num_labeled'] for r in state['history']] == [2, 6, 8]
    assert state['awaiting'] is None
    assert all(not r.get('returned_to_pool') for r in state['history'][:2])
    # Every queried image has its labels, once; no task was pushed twice.
    labeled = read_json(labeled_path(work_dir))
    files = {i['id']: i['file_name'] for i in labeled['images']}
    boxes = {name: [] for name in files.values()}
    for ann in labeled['annotations']:
        boxes[files[ann['image_id']]].append(ann['bbox'])
    empty = tasks[1]['data']['mmal_key']
    assert boxes[empty] == []
    for key in [t['data']['mmal_key'] for t in tasks + round_2]:
        if key != empty:
            width, height = size_of_key(key, folder)
            assert boxes[key] == [pytest.approx(
                [0.25 * width, 0.25 * height, 0.25 * width, 0.25 * height])]
    assert len(label_studio.tasks(project)) == 6
    print(f'automated detection rounds: {wall:.0f} s')


def size_of_key(key, folder):
    from mmal.oracles.images import image_size
    return image_size(osp.join(folder, key))


def size_of(task, folder):
    width, height = size_of_key(task['data']['mmal_key'], folder)
    return dict(width=width, height=height)


def test_pose_round_pushed_and_pulled(tmp_path, label_studio, api_key):
    """Top-down pose: person boxes with their keypoints pre-annotated; the
    annotator moves every person onto the truth in Label Studio."""
    from mmal.oracles.formats.label_studio import result
    from mmal.oracles.tasks import get_task
    from mmal.testing import pose_folder
    folder = pose_folder.write_people_folder(str(tmp_path / 'my_people'))
    cfg = Config.fromfile(pose_folder.small_config(str(tmp_path / 'small.py'),
                                                   folder['root']))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.oracle = oracle_options(label_studio, 'pose round')
    cfg.train_cfg.cycles = 2
    run(cfg)
    awaiting = read_state(cfg.work_dir)['awaiting']
    names = awaiting['oracle']['names']
    project = project_named(label_studio, 'pose round')
    assert '<KeyPointLabels name="keypoint"' in project['label_config']
    tasks = label_studio.tasks(project['id'])
    assert sorted(t['data']['mmal_key'] for t in tasks) == sorted(
        q['key'] for q in awaiting['queried'])
    truth = folder['truth']
    for task in tasks:
        key = task['data']['mmal_key']
        regions = [r for r in task['predictions'][0]['result']
                   if r['type'] == 'keypointlabels']
        assert regions and all(r['parentID'] for r in regions)
        width, height = size_of_key(key, folder['root'])
        answer = []
        for n, person in enumerate(pose_folder.people_of(truth, key)):
            x, y, w, h = person['bbox']
            points = [[px, py] for px, py, _ in zip(*[iter(person['keypoints'])] * 3)]
            answer += result(get_task('pose'), dict(
                score=1.0, bbox=[x, y, x + w, y + h], keypoints=points,
                keypoint_scores=[1.0] * len(points)), names, width, height,
                f'p{n}')
        label_studio.annotate(task['id'], answer)
    run(resumed(cfg))
    history = read_state(cfg.work_dir)['history']
    assert len(history) == 2 and not history[0]['returned_to_pool']
    labeled = read_json(labeled_path(cfg.work_dir))
    for item in awaiting['queried']:
        got = pose_folder.people_of(labeled, item['key'])
        want = pose_folder.people_of(truth, item['key'])
        assert len(got) == len(want)
        for person, true in zip(got, want):
            assert person['keypoints'] == pytest.approx(true['keypoints'], abs=1e-6)
