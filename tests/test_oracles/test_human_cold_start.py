"""A person's run that starts from no label at all: cycle 0's images are chosen
by TypiClust on features of a self-supervised model trained on the pool
(mmpretrain's SimCLR, 1 epoch; the target starts from its backbone), exported
to ``queries/initial/`` without pre-annotations, imported with
``tools/al_import.py``, and ``--resume`` trains cycle 0 on them."""
import json
import os.path as osp

from mmal.testing.al_runs import al_train, read_state, run_tool
from mmal.testing.classification_folder import (pool_keys, query_rows,
                                                 small_config, write_folder)

COLD = ['--cfg-options', 'train_dataloader.dataset.ann_file=nothing_yet.json',
        'train_cfg.initial_size=4',
        'train_cfg.initial_strategy.type=TypiClustStrategy',
        'train_cfg.initial_features.type=SelfSupervisedFeatures',
        'train_cfg.initial_features.epochs=1',
        'train_cfg.initial_features.batch_size=4',
        'train_cfg.initial_features.init_backbone=True']


def test_a_cold_start_from_no_labels(tmp_path):
    folder = write_folder(str(tmp_path / 'my_images'))
    config = small_config(str(tmp_path / 'small.py'), folder)
    work_dir = str(tmp_path / 'work')
    result = al_train(config, work_dir, *COLD)
    assert 'images of initial await labels' in result.stdout
    state = read_state(work_dir)
    assert state['history'] == [] and state['awaiting']['cycle'] is None
    queried = [q['key'] for q in state['awaiting']['queried']]
    assert len(set(queried)) == 4 and set(queried) <= set(pool_keys(folder))
    # The query files of any query, without a model's pre-annotations.
    initial = osp.join(work_dir, 'queries', 'initial')
    rows = query_csv_rows(initial)
    assert [row['key'] for row in rows] == queried
    assert all(float(row['score']) > 0 for row in rows)  # typicality
    with open(osp.join(initial, 'coco_predictions.json')) as f:
        assert json.load(f)['annotations'] == []
    with open(osp.join(initial, 'labelstudio_tasks.json')) as f:
        assert not any(task.get('predictions') for task in json.load(f))
    # The self-supervised model is cached with its SHA-256.
    with open(osp.join(work_dir, 'self_supervised', 'simclr.json')) as f:
        record = json.load(f)
    assert len(record['sha256']) == 64 and record['settings']['epochs'] == 1

    def label(coco):
        names = {c['name']: c['id'] for c in coco['categories']}
        coco['annotations'] = [
            dict(id=n, image_id=image['id'], category_id=names[('cat', 'dog')[n % 2]])
            for n, image in enumerate(coco['images'])]

    import_labels(work_dir, initial, str(tmp_path / 'labels.json'), label)
    result = al_train(config, work_dir, '--resume', *COLD)
    # The target starts from the cached self-supervised backbone again.
    output = result.stdout + result.stderr
    assert 'Reusing the simclr model' in output and 'Training simclr' not in output
    state = read_state(work_dir)
    assert [r['num_labeled'] for r in state['history']] == [4]
    assert [q['key'] for q in state['initial_query']['queried']] == queried
    # Cycle 0's model chose the next images, exported as usual.
    assert state['awaiting']['cycle'] == 0
    assert not {row['key'] for row in query_rows(work_dir, 0)} & set(queried)


def query_csv_rows(folder):
    from mmal.oracles.formats import query_csv
    return query_csv.read(osp.join(folder, 'query.csv'))


def import_labels(work_dir, query_folder, labels_path, label):
    with open(osp.join(query_folder, 'coco_predictions.json')) as f:
        coco = json.load(f)
    label(coco)
    with open(labels_path, 'w') as f:
        json.dump(coco, f)
    run_tool('al_import.py', work_dir, labels_path)
