"""Human rounds for image classification: ``tools/al_train.py`` on
``configs/human/resnet18_folder_lloss.py`` (shrunk: 32x32 inputs, a narrow
ResNet-18) over a folder of images, labels read by ``CocoClassificationDataset``,
the query's ``coco_predictions.json`` corrected and imported as COCO; learning
loss, then entropy, core-set and random."""
import json
import math
import os
import os.path as osp

import numpy as np
import pytest

from mmal.engine.pool_query import STRATEGY_DRAW, SUBSET_DRAW, cycle_rng
from mmal.oracles import labeled_path, missing_keys
from mmal.testing.al_runs import al_train, read_state, run_tool
from mmal.testing.human_labels import hash_tree
from mmal.testing.classification_folder import (LABELED, answer_query,
                                                 exported_predictions, pool_keys,
                                                 query_rows, small_config,
                                                 write_folder)


@pytest.fixture
def folder(tmp_path):
    return write_folder(str(tmp_path / 'my_images'))


def test_two_classification_rounds(folder, tmp_path):
    config = small_config(str(tmp_path / 'small.py'), folder)
    work_dir = str(tmp_path / 'work')
    result = al_train(config, work_dir)
    assert '--resume' in result.stdout
    state = read_state(work_dir)
    history = state['history']
    assert [r['num_labeled'] for r in history] == [4]
    assert 0 <= history[0]['metrics']['accuracy/top1'] <= 100
    queried = [q['key'] for q in state['awaiting']['queried']]
    assert len(queried) == 2 and not any(k.startswith('labeled/') for k in queried)

    # The annotator takes the exported predictions, correcting the first image.
    coco = exported_predictions(work_dir, 0)
    names = {c['name']: c['id'] for c in coco['categories']}
    assert set(names) == {'cat', 'dog'} and len(coco['annotations']) == 2
    first_id = next(i['id'] for i in coco['images'] if i['file_name'] == queried[0])
    for ann in coco['annotations']:
        assert 'bbox' not in ann and 0 <= ann['score'] <= 1

    def correct(coco):
        for ann in coco['annotations']:
            if ann['image_id'] == first_id:
                ann['category_id'] = names['dog']

    # An image listed without its class, or with two classes, is refused with
    # nothing changed: the run would train on label -1, or fail at --resume.
    second_id = next(i['id'] for i in coco['images'] if i['file_name'] == queried[1])
    no_class = dict(coco, annotations=[a for a in coco['annotations']
                                       if a['image_id'] != second_id])
    two_classes = dict(coco, annotations=coco['annotations'] + [dict(
        id=99, image_id=second_id,
        category_id=({*names.values()} - {a['category_id'] for a in coco[
            'annotations'] if a['image_id'] == second_id}).pop())])
    before = hash_tree(work_dir)
    for bad, message in ((no_class, 'has no annotation'),
                         (two_classes, 'has annotations of 2 categories')):
        path = str(tmp_path / 'bad.json')
        with open(path, 'w') as f:
            json.dump(bad, f)
        result = run_tool('al_import.py', work_dir, path, check=False)
        assert result.returncode == 1, result.stdout
        assert message in result.stderr and repr(queried[1]) in result.stderr
        assert 'Traceback' not in result.stderr
        assert hash_tree(work_dir) == before

    answer_query(work_dir, 0, str(tmp_path / 'labels.json'), correct)
    assert missing_keys(work_dir) == []

    # An image nobody labeled is deleted and the folder listed again: it leaves
    # the pool (which now also lists the user's labeled images, labeled).
    gone = next(key for key in pool_keys(folder) if key not in queried)
    os.remove(osp.join(folder, gone))
    run_tool('images_to_coco.py', folder, osp.join(folder, 'unlabeled.json'))
    al_train(config, work_dir, '--resume')
    state = read_state(work_dir)
    assert state['pool']['size'] == len(pool_keys(folder)) == 6 - 1 + LABELED
    history = state['history']
    assert [r['num_labeled'] for r in history] == [4, 6]
    assert [q['key'] for q in history[0]['queried']] == queried
    with open(labeled_path(work_dir)) as f:
        labeled = json.load(f)
    classes = {c['id']: c['name'] for c in labeled['categories']}
    by_file = {i['id']: i['file_name'] for i in labeled['images']}
    assert {by_file[a['image_id']]: classes[a['category_id']]
            for a in labeled['annotations']}[queried[0]] == 'dog'


# Labeled images 0 (cat) and 1 (dog) are also in the pool, first in pool order:
# core-set without the labeled set as centers would take one of them first.
COPIES = ('a_copy/0.png', 'a_copy/1.png')
SUBSET = 8  # the whole pool: 6 images and the 2 copies


@pytest.fixture(scope='module')
def copies_folder(tmp_path_factory):
    root = write_folder(str(tmp_path_factory.mktemp('pool') / 'my_images'),
                        copies=(0, 1))
    assert pool_keys(root)[:2] == list(COPIES) and len(pool_keys(root)) == SUBSET
    return root


def check_entropy(work_dir, cycle, rows, output, keys, queried):
    """The scores are the entropies of the exported predictions, highest first."""
    coco = exported_predictions(work_dir, cycle)
    top = {image['file_name']: ann['score'] for image in coco['images']
           for ann in coco['annotations'] if ann['image_id'] == image['id']}
    scores = [float(row['score']) for row in rows]
    assert scores == sorted(scores, reverse=True)
    for row, score in zip(rows, scores):
        p = top[row['key']]  # two classes: the top score decides the entropy
        assert score == pytest.approx(-p * math.log(p) - (1 - p) * math.log(1 - p),
                                      rel=1e-4, abs=1e-6)


def check_coreset(work_dir, cycle, rows, output, keys, queried):
    """Every labeled.json image is a center, read again per query."""
    count = LABELED + len(queried)
    assert (f'Query after cycle {cycle + 1}: labeled features: {count} samples'
            in output)
    distances = [float(row['score']) for row in rows]
    assert all(0 < d < math.inf for d in distances)
    assert distances == sorted(distances, reverse=True)  # k-center greedy
    assert not {row['key'] for row in rows} & set(COPIES)


def check_random(work_dir, cycle, rows, output, keys, queried, seed=0):
    """The draw of the seed and the cycle (also after --resume), no scores."""
    unlabeled = [i for i, key in enumerate(keys) if key not in queried]
    subset = np.sort(cycle_rng(seed, cycle, SUBSET_DRAW).choice(
        unlabeled, size=min(SUBSET, len(unlabeled)), replace=False))
    chosen = cycle_rng(seed, cycle, STRATEGY_DRAW).choice(len(subset), size=2,
                                                          replace=False)
    assert [row['key'] for row in rows] == [keys[subset[i]] for i in sorted(chosen)]
    assert [row['score'] for row in rows] == [None, None]


CHECKS = dict(EntropyStrategy=check_entropy, CoreSetStrategy=check_coreset,
              RandomStrategy=check_random)


@pytest.mark.parametrize('strategy', sorted(CHECKS))
def test_strategy_rounds(copies_folder, tmp_path, strategy):
    config = small_config(str(tmp_path / 'small.py'), copies_folder)
    work_dir = str(tmp_path / 'work')
    # Three cycles: the resumed round trains on the grown set and queries again.
    options = ['--cfg-options', f'train_cfg.strategy.type={strategy}',
               f'train_cfg.subset_size={SUBSET}', 'train_cfg.cycles=3']
    keys = pool_keys(copies_folder)
    result = al_train(config, work_dir, *options)
    first = query_rows(work_dir, 0)
    assert len(first) == 2
    CHECKS[strategy](work_dir, 0, first, result.stdout + result.stderr, keys, [])
    answer_query(work_dir, 0, str(tmp_path / 'labels.json'))

    result = al_train(config, work_dir, *options, '--resume')
    state = read_state(work_dir)
    history = state['history']
    assert [r['num_labeled'] for r in history] == [4, 6]
    queried = [q['key'] for q in history[0]['queried']]
    assert queried == [row['key'] for row in first]
    second = query_rows(work_dir, 1)
    assert [q['key'] for q in state['awaiting']['queried']] == [
        row['key'] for row in second]
    assert len(second) == 2 and not {row['key'] for row in second} & set(queried)
    CHECKS[strategy](work_dir, 1, second, result.stdout + result.stderr, keys,
                     queried)


def test_a_kill_during_the_export_resumes_to_the_same_query(folder, tmp_path,
                                                            monkeypatch):
    """Killed after the query files but before the query is open: nothing is
    awaited, and --resume exports what the uninterrupted run did."""
    from mmengine.config import Config

    import mmal.oracles.contact_sheet as contact_sheet
    from mmal.oracles import read_awaiting
    from mmal.testing.tiny_runs import run
    cfg = Config.fromfile(small_config(str(tmp_path / 'small.py'), folder))
    cfg.work_dir = str(tmp_path / 'reference')
    run(cfg)
    reference = read_state(cfg.work_dir)['awaiting']['queried']

    cfg.work_dir = str(tmp_path / 'work')

    def dying_sheet(*args, **kwargs):
        raise RuntimeError('simulated kill while exporting')

    with monkeypatch.context() as patch:
        patch.setattr(contact_sheet, 'write_contact_sheet', dying_sheet)
        with pytest.raises(RuntimeError, match='simulated kill'):
            run(cfg)
    state = read_state(cfg.work_dir)
    assert len(state['history']) == 1 and state['awaiting'] is None
    assert osp.isfile(osp.join(cfg.work_dir, 'queries', 'cycle_0', 'query.csv'))
    with pytest.raises(FileNotFoundError):
        read_awaiting(cfg.work_dir)

    cfg.train_cfg.resume = True
    run(cfg)
    state = read_state(cfg.work_dir)
    assert len(state['history']) == 1
    assert [q['key'] for q in state['awaiting']['queried']] == [
        q['key'] for q in reference]
    assert [q['score'] for q in state['awaiting']['queried']] == pytest.approx(
        [q['score'] for q in reference])
    assert [item['key'] for item in read_awaiting(cfg.work_dir)['items']] == [
        q['key'] for q in reference]
    assert osp.isfile(osp.join(cfg.work_dir, 'queries', 'cycle_0',
                               'contact_sheet.png'))


def test_a_pool_image_outside_the_folder_is_refused_before_training(folder,
                                                                    tmp_path):
    """An image-list entry that climbs out of the folder (``../``) stops the run
    before it reads any file outside the folder."""
    from PIL import Image
    Image.new('RGB', (40, 30)).save(tmp_path / 'outside.png')
    pool_file = osp.join(folder, 'unlabeled.json')
    with open(pool_file) as f:
        pool = json.load(f)
    pool['images'].append(dict(id=999, file_name='../outside.png', width=40,
                               height=30))
    with open(pool_file, 'w') as f:
        json.dump(pool, f)
    config = small_config(str(tmp_path / 'small.py'), folder)
    work_dir = str(tmp_path / 'work')
    result = al_train(config, work_dir, check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f'error: train_cfg.unlabeled_dataset.ann_file '
                            f'{pool_file}: image ')
    assert "'../outside.png' escapes the data root" in error
    assert 'tools/images_to_coco.py' in error
    assert not [name for name in os.listdir(work_dir) if name.endswith('.pth')]
