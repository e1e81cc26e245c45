"""The detection configs on a VOC devkit generated at ``data/VOCdevkit`` (the
configs' own data root), read by mmdet's VOCDataset, pipelines, SSD300 and
VOCMetric: end to end through tools/al_train.py, and pool scoring by key; sizes
shrunk by a derived config."""
import os.path as osp
from functools import partial

import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import Runner

from mmal.datasets import PoolLayout
from mmal.engine import pool_scoring
from mmal.engine.pool_scoring import PoolScorer, leaf_pipeline, with_pipeline
from mmal.models import build_loss_adapter

from mmal.testing.al_runs import REPO, al_train, read_state, write_config
from mmal.testing.voc_format import voc_dataset

# A pool of 5 (3 VOC07 + 2 VOC12 trainval): 2 labeled, then 2 of the other 3.
SMALL = """
model = dict(target=dict(backbone=dict(init_cfg=None)))  # no download in tests
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
train_cfg = dict(cycles=2, initial_size=2, query_size=2, subset_size=3,
                 max_epochs=1, score_batch_size=2)
default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=3)
"""


def small_config(tmp_path) -> str:
    """``configs/ssd_vgg16_voc_lloss.py`` shrunk."""
    return write_config(str(tmp_path / 'small_lloss.py'), 'ssd_vgg16_voc_lloss.py',
                        SMALL)


def test_lloss_config_runs_two_cycles(tmp_path, voc, monkeypatch):
    work_dir = str(tmp_path / 'work')
    config = small_config(tmp_path)
    # The config reads data/VOCdevkit relative to the working directory.
    monkeypatch.chdir(voc['root'])
    al_train(config, work_dir)

    state = read_state(work_dir)
    assert state['strategy'] == 'LearningLossStrategy'
    history = state['history']
    assert [r['num_labeled'] for r in history] == [2, 4]
    # The last cycle's model has not queried: a longer run would do it first.
    assert len(history[0]['queried']) == 2 and history[1]['queried'] is None
    keys = [item['key'] for item in state['labeled']]
    pool = voc['ids']['VOC2007/trainval'] + voc['ids']['VOC2012/trainval']
    assert len(set(keys)) == 4 and set(keys) <= set(pool)
    queried = history[0]['queried']
    assert keys[2:] == [q['key'] for q in queried]
    scores = [q['score'] for q in queried]
    assert all(isinstance(s, float) for s in scores) and scores[0] >= scores[1]
    for record in history:
        assert 0 <= record['metrics']['pascal_voc/mAP'] <= 1
        assert 'pascal_voc/AP50' in record['metrics']
        assert osp.isfile(osp.join(work_dir, record['checkpoint']))
    assert osp.getsize(osp.join(work_dir, 'al_curve.png')) > 1000


def score_one_by_one(model, cfg, devkit: str, keys, output: str):
    """Each key's strategy output from a batch of its own, reading the sample
    independently of mmal's pool (mmdet's VOCDataset, found by img_id)."""
    datasets = [voc_dataset(devkit, year, 'trainval', cfg.test_pipeline)
                for year in ('VOC2007', 'VOC2012')]
    where = {ds.get_data_info(i)['img_id']: (ds, i)
             for ds in datasets for i in range(len(ds))}
    if output == 'predicted_loss':
        compute = model.predict_loss
    else:
        target = getattr(model, 'target', model)
        adapter = build_loss_adapter(target)
        compute = partial(getattr(adapter, output), target)
    model.eval()
    scores = []
    with torch.no_grad():
        for key in keys:
            dataset, index = where[key]
            data = model.data_preprocessor(pseudo_collate([dataset[index]]), False)
            scores.append(compute(data['inputs'], data['data_samples'])[0])
    return torch.stack(scores).numpy()


def test_scores_gathered_by_key_equal_scores_one_by_one(tmp_path, voc, monkeypatch):
    monkeypatch.chdir(voc['root'])
    cfg = Config.fromfile(small_config(tmp_path))
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.model.init_weights()  # as runner.train() would
    # The pool as the loop sees it: VOC07+12 trainval, keyed by img_id; scored
    # through the test pipeline, 2 per batch, in an order that is not the pool's.
    pool = DATASETS.build(cfg.train_dataloader.dataset)
    scoring = DATASETS.build(with_pipeline(cfg.train_dataloader.dataset,
                                           leaf_pipeline(cfg.test_dataloader.dataset)))
    layout = PoolLayout(scoring, 'img_id')
    assert layout.keys == PoolLayout(pool, 'img_id').keys
    assert sorted(layout.keys) == sorted(voc['ids']['VOC2007/trainval'] +
                                         voc['ids']['VOC2012/trainval'])
    scorer = PoolScorer(runner, scoring, layout,
                        dict(cfg.test_dataloader, batch_size=2))
    asked = [4, 0, 2]
    keys = [layout.keys[i] for i in asked]
    # Learning loss; entropy and features as the plain SSD of the baselines gives
    # them (the adapter on the target).
    for output in ('predicted_loss', 'entropy', 'features'):
        gathered = scorer.score(asked, getattr(pool_scoring, output))
        alone = score_one_by_one(runner.model, cfg, voc['devkit'], keys, output)
        assert gathered.shape == alone.shape and len(gathered) == 3
        np.testing.assert_allclose(gathered, alone, rtol=1e-4, atol=1e-5)
        # Distinct per image: the comparison would catch a mix-up of samples.
        assert not np.allclose(gathered[0], gathered[1])
        assert not np.allclose(gathered[1], gathered[2])


@pytest.mark.parametrize('name,strategy', [
    ('lloss', 'LearningLossStrategy'), ('random', 'RandomStrategy'),
    ('entropy', 'EntropyStrategy'), ('coreset', 'CoreSetStrategy')
])
def test_configs_follow_the_paper_protocol(name, strategy):
    cfg = Config.fromfile(osp.join(REPO, 'configs', f'ssd_vgg16_voc_{name}.py'))
    loop = cfg.train_cfg
    assert loop.type == 'ActiveLearningLoop' and loop.strategy.type == strategy
    assert (loop.cycles, loop.initial_size, loop.query_size, loop.subset_size,
            loop.max_epochs) == (10, 1000, 1000, 10000, 300)
    assert loop.key_field == 'img_id'
    loader = cfg.train_dataloader
    assert loader.batch_size == 32 and loader.dataset.times == 1
    parts = loader.dataset.dataset.datasets
    assert [part.ann_file for part in parts] == [
        'VOC2007/ImageSets/Main/trainval.txt', 'VOC2012/ImageSets/Main/trainval.txt']
    assert all(part.data_root == 'data/VOCdevkit/' for part in parts)
    assert any(step.type == 'MinIoURandomCrop' for step in parts[0].pipeline)
    assert cfg.optim_wrapper.optimizer.lr == 1e-3
    warmup, steps = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and not warmup.by_epoch
    assert (steps.type, steps.by_epoch, steps.milestones, steps.gamma) == (
        'MultiStepLR', True, [240], 0.1)
    assert cfg.val_evaluator.type == 'VOCMetric'
    assert cfg.val_evaluator.eval_mode == '11points'
    assert cfg.val_dataloader.dataset.ann_file == 'VOC2007/ImageSets/Main/test.txt'
    target = cfg.model.target if name == 'lloss' else cfg.model
    assert target.bbox_head.type == 'SSDHead' and target.bbox_head.num_classes == 20
    if name == 'lloss':
        assert cfg.model.type == 'LearningLossModel'
        assert (cfg.model.margin, cfg.model.loss_weight) == (1.0, 1.0)
        assert cfg.model.head.in_channels == list(target.neck.out_channels)
        assert len(cfg.model.taps) == 6


def test_a_strategy_that_cannot_run_fails_before_training(tmp_path, voc,
                                                           monkeypatch):
    # Entropy on SSD without the detection adapter imported: found on two pool
    # samples before cycle 0 trains, not after it.
    config = write_config(str(tmp_path / 'no_adapter.py'), 'ssd_vgg16_voc_entropy.py',
                          SMALL.replace('model = dict(target=dict(backbone=dict('
                                        'init_cfg=None)))', 'model = dict(backbone='
                                        'dict(init_cfg=None))') +
                          "custom_imports = dict(imports=['mmal'])\n")
    monkeypatch.chdir(voc['root'])
    work_dir = str(tmp_path / 'work')
    result = al_train(config, work_dir, check=False)
    assert result.returncode != 0
    assert 'EntropyStrategy cannot run' in result.stderr
    assert 'No loss adapter for SingleStageDetector' in result.stderr
    assert 'mmal.models.adapters.detection' in result.stderr
    assert not osp.exists(osp.join(work_dir, 'al_state.json'))
    assert not [f for f in os.listdir(work_dir) if f.endswith('.pth')]
