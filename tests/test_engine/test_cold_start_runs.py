"""Cold-start initial sets in simulation on the digits slice of
``mmal.testing.tiny_runs``: TypiClust and ProbCover on SimCLR features
(mmpretrain's SimCLR trained on the pool for one epoch), the random default
unchanged, a kill after the initial query, and the SimCLR cache."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

import mmal.testing.interrupt_hook  # noqa: F401  (registers the kill hook)
from mmal.engine.pool_query import INITIAL_DRAW, cycle_rng
from mmal.testing.al_runs import read_state
from mmal.testing.tiny_runs import run, tiny_config

SSL = dict(type='SelfSupervisedFeatures', epochs=1, batch_size=32)


def cold_config(work_dir, strategy='TypiClustStrategy', **train_cfg):
    train_cfg.setdefault('cycles', 1)
    train_cfg.setdefault('initial_features', dict(SSL))
    return tiny_config(work_dir, initial_strategy=dict(type=strategy), **train_cfg)


def initial_keys(work_dir):
    return [q['key'] for q in read_state(work_dir)['initial_query']['queried']]


def test_the_random_default_is_the_seeds_draw(tmp_path):
    cfg = tiny_config(str(tmp_path), cycles=1)
    run(cfg)
    state = read_state(cfg.work_dir)
    # The pool keys are the indices of the 120 digits: the draw of mmal before
    # initial strategies, bit for bit.
    drawn = np.sort(cycle_rng(3, 0, INITIAL_DRAW).choice(120, size=20, replace=False))
    assert initial_keys(cfg.work_dir) == [str(i) for i in drawn]
    assert all(q['score'] is None for q in state['initial_query']['queried'])
    assert not osp.exists(osp.join(cfg.work_dir, 'self_supervised'))


def test_a_cold_start_run_is_deterministic(tmp_path, strategy='TypiClustStrategy'):
    first = cold_config(str(tmp_path / 'a'), strategy)
    run(first)
    state = read_state(first.work_dir)
    keys = initial_keys(first.work_dir)
    assert len(set(keys)) == 20 and state['history'][0]['num_labeled'] == 20
    scores = [q['score'] for q in state['initial_query']['queried']]
    assert all(s is not None and s >= 0 for s in scores)
    # Another work dir trains SimCLR again from the seed: the same set.
    again = cold_config(str(tmp_path / 'b'), strategy)
    run(again)
    assert initial_keys(again.work_dir) == keys
    drawn = np.sort(cycle_rng(3, 0, INITIAL_DRAW).choice(120, size=20, replace=False))
    assert keys != [str(i) for i in drawn]


def test_a_kill_after_the_initial_query_resumes_to_the_same_run(tmp_path):
    # ProbCover here (TypiClust above): the killed run, in another work dir,
    # trains SimCLR again and chooses the reference's set.
    reference = cold_config(str(tmp_path / 'reference'), 'ProbCoverStrategy',
                            cycles=2)
    run(reference)
    scores = [q['score'] for q in read_state(reference.work_dir)['initial_query'][
        'queried']]
    assert len(scores) == 20 and scores[0] >= 1  # newly covered samples
    cfg = cold_config(str(tmp_path / 'work'), 'ProbCoverStrategy', cycles=2)
    cfg.custom_hooks = [dict(type='InterruptAtCycleHook', cycle=0, iteration=1)]
    with pytest.raises(RuntimeError, match='simulated kill'):
        run(cfg)
    assert initial_keys(cfg.work_dir) == initial_keys(reference.work_dir)
    cfg.custom_hooks = []
    cfg.train_cfg.resume = True
    run(cfg)
    done, expected = read_state(cfg.work_dir), read_state(reference.work_dir)
    assert done['labeled'] == expected['labeled']
    assert [r['num_labeled'] for r in done['history']] == [20, 30]


def test_simclr_is_mmpretrains_cached_and_starts_the_target(tmp_path):
    from mmengine.runner import Runner

    from mmal.features import SelfSupervisedFeatures
    from mmal.utils import InputError
    cfg = cold_config(str(tmp_path), pool_size=24,
                      initial_features=dict(SSL, batch_size=8, init_backbone=True))
    runner = Runner.from_cfg(cfg)
    loop = runner.build_train_loop(cfg.train_cfg)
    query = loop.query
    source = query.initial_features
    before = {k: v.clone() for k, v in runner.model.backbone.state_dict().items()}
    source.init_model(query)
    model = source.model(query)
    assert type(model).__name__ == 'SimCLR' and type(model).__module__.startswith(
        'mmpretrain.')
    checkpoint, record_path = source.paths(cfg.work_dir)
    with open(record_path) as f:
        record = json.load(f)
    state = torch.load(checkpoint, weights_only=True)
    trained = {k[len('backbone.'):]: v for k, v in state.items()
               if k.startswith('backbone.')}
    # One epoch of SimCLR moved the weights, and the target starts from them.
    assert any(not torch.equal(before[k], trained[k]) for k in before)
    for name, value in runner.model.backbone.state_dict().items():
        assert torch.equal(value, trained[name])
    assert record['settings']['epochs'] == 1 and record['train_seconds'] >= 0
    # A new source reads the cache; the same weights.
    cached = SelfSupervisedFeatures(**{k: v for k, v in SSL.items() if k != 'type'},
                                    init_backbone=True)
    cached.batch_size = 8
    reread = cached.model(query).state_dict()
    assert all(torch.equal(reread[k].cpu(), state[k]) for k in state)
    # A checkpoint that is not the one mmal wrote is refused.
    with open(checkpoint, 'ab') as f:
        f.write(b'\0')
    tampered = SelfSupervisedFeatures(epochs=1, batch_size=8)
    with pytest.raises(InputError, match='SHA-256 differs'):
        tampered.model(query)
