"""The detection configs end to end through tools/al_train.py, on a VOC devkit
generated at ``data/VOCdevkit`` (the configs' own data root) and read by mmdet's
VOCDataset, pipelines, SSD300 and VOCMetric; sizes shrunk by a derived config."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import load_checkpoint

from al_runs import REPO, al_train, read_state, write_config
from voc_format import voc_dataset

# A pool of 5 (3 VOC07 + 2 VOC12 trainval): 2 labeled, then the 2 best of all 3
# unlabeled (subset_size covers them all).
SMALL = """
{model}
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
train_cfg = dict(cycles=2, initial_size=2, query_size=2, subset_size=3,
                 max_epochs=1, score_batch_size=2)
default_hooks = dict(logger=dict(interval=1))
randomness = dict(seed=3)
"""
NO_PRETRAINED = {
    'lloss': 'model = dict(target=dict(backbone=dict(init_cfg=None)))',
    'plain': 'model = dict(backbone=dict(init_cfg=None))',
}


def run_small(tmp_path, voc, monkeypatch, name: str):
    """Run ``configs/ssd_vgg16_voc_<name>.py`` shrunk; returns (config, work_dir)."""
    base = f'ssd_vgg16_voc_{name}.py'
    model = NO_PRETRAINED['lloss' if name == 'lloss' else 'plain']
    config = write_config(str(tmp_path / f'small_{base}'), base,
                          SMALL.format(model=model))
    work_dir = str(tmp_path / f'work_{name}')
    # The configs read data/VOCdevkit relative to the working directory.
    monkeypatch.chdir(voc['root'])
    al_train(config, work_dir)
    return config, work_dir


@pytest.fixture(scope='module')
def lloss_run(tmp_path_factory, voc):
    with pytest.MonkeyPatch.context() as monkeypatch:
        return run_small(tmp_path_factory.mktemp('lloss'), voc, monkeypatch, 'lloss')


def check_state(work_dir, voc):
    state = read_state(work_dir)
    history = state['history']
    assert [r['num_labeled'] for r in history] == [2, 4]
    assert [len(r['queried']) for r in history] == [2, 0]
    keys = [item['key'] for item in state['labeled']]
    pool = set(voc['ids']['VOC2007/trainval']) | set(voc['ids']['VOC2012/trainval'])
    assert len(set(keys)) == 4 and set(keys) <= pool
    queried = [q['key'] for q in history[0]['queried']]
    assert keys[2:] == queried and not set(queried) & set(keys[:2])
    for record in history:
        assert 0 <= record['metrics']['pascal_voc/mAP'] <= 1
        assert 'pascal_voc/AP50' in record['metrics']
        assert osp.isfile(osp.join(work_dir, record['checkpoint']))
    assert osp.getsize(osp.join(work_dir, 'al_curve.png')) > 1000
    return state


def test_lloss_runs_two_cycles(lloss_run, voc):
    _, work_dir = lloss_run
    state = check_state(work_dir, voc)
    assert state['strategy'] == 'LearningLossStrategy'
    scores = [q['score'] for q in state['history'][0]['queried']]
    assert all(isinstance(s, float) for s in scores) and scores[0] >= scores[1]


def score_one_by_one(config: str, checkpoint: str, devkit: str, keys, output):
    """Each key's strategy output from its own batch of one, with the scoring
    samples read independently of mmal's pool (VOCDataset by img_id)."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu')
    model.eval()
    datasets = [voc_dataset(devkit, year, 'trainval', cfg.test_pipeline)
                for year in ('VOC2007', 'VOC2012')]
    where = {ds.get_data_info(i)['img_id']: (ds, i)
             for ds in datasets for i in range(len(ds))}
    scores = {}
    with torch.no_grad():
        for key in keys:
            dataset, index = where[key]
            data = model.data_preprocessor(pseudo_collate([dataset[index]]), False)
            scores[key] = output(model, data['inputs'], data['data_samples']).item()
    return scores


def test_lloss_scores_gathered_by_key_equal_scores_one_by_one(lloss_run, voc):
    config, work_dir = lloss_run
    state = read_state(work_dir)
    labeled0 = {item['key'] for item in state['labeled'][:2]}
    pool = voc['ids']['VOC2007/trainval'] + voc['ids']['VOC2012/trainval']
    unlabeled = [key for key in pool if key not in labeled0]
    scores = score_one_by_one(
        config, osp.join(work_dir, 'cycle_0.pth'), voc['devkit'], unlabeled,
        lambda model, inputs, samples: model.predict_loss(inputs, samples))
    queried = state['history'][0]['queried']
    for item in queried:
        assert item['score'] == pytest.approx(scores[item['key']], rel=1e-4,
                                              abs=1e-5)
    best = sorted(unlabeled, key=lambda key: -scores[key])[:2]
    assert [item['key'] for item in queried] == best


@pytest.mark.parametrize('name', ['entropy', 'coreset'])
def test_scoring_baselines_run_two_cycles(tmp_path, voc, monkeypatch, name):
    config, work_dir = run_small(tmp_path, voc, monkeypatch, name)
    state = check_state(work_dir, voc)
    queried = state['history'][0]['queried']
    if name == 'coreset':
        assert all(q['score'] > 0 for q in queried)
    else:
        from mmal.models import build_loss_adapter
        scores = score_one_by_one(
            config, osp.join(work_dir, 'cycle_0.pth'), voc['devkit'],
            [q['key'] for q in queried],
            lambda model, inputs, samples: build_loss_adapter(model).entropy(
                model, inputs, samples))
        for item in queried:
            assert item['score'] == pytest.approx(scores[item['key']], rel=1e-4)


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
    assert [(s.type, s.milestones, s.gamma) for s in cfg.param_scheduler] == [
        ('MultiStepLR', [240], 0.1)]
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
