"""The active learning loop on settings that real mm configs use, in-process on a
tiny mmpretrain ResNet and real digits (see ``mmal.testing.tiny_runs``)."""
import json
import os
import os.path as osp

import pytest

import mmal.testing.interrupt_hook  # noqa: F401  (registers the test hooks)
from mmal.testing.tiny_runs import run, tiny_config


def state(work_dir):
    with open(osp.join(work_dir, 'al_state.json')) as f:
        return json.load(f)


def resumed(cfg, **train_cfg):
    cfg = cfg.copy()
    cfg.merge_from_dict(dict(train_cfg=dict(resume=True, **train_cfg)))
    return cfg


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    """An uninterrupted 3-cycle learning-loss run."""
    cfg = tiny_config(str(tmp_path_factory.mktemp('reference')), lloss=True)
    run(cfg)
    return state(cfg.work_dir)


def test_schedulers_converted_to_iterations(tmp_path):
    cfg = tiny_config(str(tmp_path), cycles=2, max_epochs=2)
    cfg.param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[1],
                               convert_to_iter_based=True)
    runner = run(cfg)
    assert len(state(cfg.work_dir)['history']) == 2
    scheduler, = runner.param_schedulers
    # Built for cycle 1's 30 labels: 4 steps an epoch, milestone after epoch 1.
    assert not scheduler.by_epoch and scheduler.milestones == {4: 1}
    assert runner.optim_wrapper.get_lr()['lr'][0] == pytest.approx(0.005)


def test_iteration_schedulers_end_with_the_cycle(tmp_path):
    cfg = tiny_config(str(tmp_path), cycles=2, max_epochs=2)
    cfg.param_scheduler = dict(type='LinearLR', by_epoch=False, start_factor=1.0,
                               end_factor=0.1)
    runner = run(cfg)
    scheduler, = runner.param_schedulers
    assert (scheduler.begin, scheduler.end) == (0, 2 * 4)
    assert runner.optim_wrapper.get_lr()['lr'][0] == pytest.approx(0.005)


def test_extending_a_finished_run_queries_first(tmp_path):
    cfg = tiny_config(str(tmp_path), cycles=2)
    run(cfg)
    assert [r['num_labeled'] for r in state(cfg.work_dir)['history']] == [20, 30]
    run(resumed(cfg, cycles=4))
    history = state(cfg.work_dir)['history']
    assert [r['num_labeled'] for r in history] == [20, 30, 40, 50]
    assert [len(r['queried']) for r in history[:3]] == [10, 10, 10]
    assert history[3]['queried'] is None


def test_changed_budgets_on_resume(tmp_path):
    cfg = tiny_config(str(tmp_path), cycles=2)
    run(cfg)
    before = state(cfg.work_dir)
    with pytest.raises(ValueError, match='initial_size=20.*initial_size=20'):
        run(resumed(cfg, cycles=3, initial_size=30))
    assert state(cfg.work_dir) == before
    run(resumed(cfg, cycles=3, query_size=15))
    history = state(cfg.work_dir)['history']
    assert [r['num_labeled'] for r in history] == [20, 30, 45]
    assert [r.get('query_size') for r in history] == [10, 15, None]
    assert [r.get('subset_size') for r in history] == [30, 30, None]


def test_resume_when_every_cycle_is_done(tmp_path):
    cfg = tiny_config(str(tmp_path), cycles=2)
    run(cfg)
    before = state(cfg.work_dir)
    os.remove(osp.join(cfg.work_dir, 'cycle_1.pth'))
    runner = run(resumed(cfg))
    assert state(cfg.work_dir) == before
    assert runner.train_loop.iter == before['history'][-1]['iter']


def test_early_stopping_ends_a_cycle_not_the_run(tmp_path):
    cfg = tiny_config(str(tmp_path), cycles=2, max_epochs=3, val_interval=1)
    cfg.custom_hooks = [dict(type='EarlyStoppingHook', monitor='accuracy/top1',
                             stopping_threshold=0.0)]
    run(cfg)
    history = state(cfg.work_dir)['history']
    steps = [history[0]['iter'], history[1]['iter'] - history[0]['iter']]
    # Each cycle stops after its first epoch: 3 steps (20 labels), then 4 (30).
    assert steps == [3, 4]


def test_every_cycle_starts_from_the_initial_optimizer_state(tmp_path):
    cfg = tiny_config(str(tmp_path), cycles=3)
    cfg.optim_wrapper = dict(optimizer=dict(type='Adam', lr=0.01))
    cfg.custom_hooks = [dict(type='CycleStartRecorder')]
    runner = run(cfg)
    recorder, = [h for h in runner.hooks if type(h).__name__ == 'CycleStartRecorder']
    assert [r['cycle'] for r in recorder.records] == [0, 1, 2]
    for record in recorder.records:
        assert record['lr'] == [0.01] and record['state'] == 0
        assert 'momentum' not in record['keys']  # Adam has betas, not momentum
    assert len(runner.optim_wrapper.optimizer.state) > 0  # it did train


def test_a_wrong_curve_metric_does_not_stop_training(tmp_path):
    cfg = tiny_config(str(tmp_path), cycles=2, curve_metric='pascal_voc/mAP')
    runner = run(cfg)
    assert len(state(cfg.work_dir)['history']) == 2
    assert not osp.exists(osp.join(cfg.work_dir, 'al_curve.png'))
    log = open(runner.logger.log_file).read()
    assert "al_curve.png not drawn" in log and 'accuracy/top1' in log


def kill_and_resume(cfg, reference, hooks=(), patch=None):
    """Run ``cfg`` until a simulated kill, resume it, and compare the result with
    the uninterrupted ``reference`` state."""
    killing = cfg.copy()
    killing.custom_hooks = list(cfg.custom_hooks) + list(hooks)
    with pytest.raises(RuntimeError, match='simulated kill'):
        if patch is None:
            run(killing)
        else:
            with patch():
                run(killing)
    interrupted = state(cfg.work_dir)
    for record in interrupted['history']:  # never a state without its checkpoint
        assert osp.isfile(osp.join(cfg.work_dir, record['checkpoint']))
    run(resumed(cfg))
    final = state(cfg.work_dir)
    assert final['labeled'] == reference['labeled']
    assert final['history'] == reference['history']
    return interrupted


def test_kill_during_training(tmp_path, reference):
    cfg = tiny_config(str(tmp_path), lloss=True)
    interrupted = kill_and_resume(
        cfg, reference, [dict(type='InterruptAtCycleHook', cycle=1, iteration=2)])
    # Cycle 1 had its labels (the query is recorded before training) but died.
    assert len(interrupted['history']) == 1
    assert len(interrupted['labeled']) == 30


def test_kill_during_scoring(tmp_path, reference, monkeypatch):
    from contextlib import contextmanager

    from mmal.engine.pool_scoring import PoolScorer
    real_score = PoolScorer.score
    calls = []

    def dying_score(self, pool_indices, output_fn, description='scoring'):
        calls.append(description)
        if description.startswith('Query after cycle 2'):
            raise RuntimeError('simulated kill while scoring')
        return real_score(self, pool_indices, output_fn, description)

    @contextmanager
    def patch():
        with monkeypatch.context() as m:
            m.setattr(PoolScorer, 'score', dying_score)
            yield

    cfg = tiny_config(str(tmp_path), lloss=True)
    interrupted = kill_and_resume(cfg, reference, patch=patch)
    assert len(interrupted['history']) == 2
    assert interrupted['history'][1]['queried'] is None


@pytest.mark.parametrize('what', ['state', 'checkpoint'])
def test_kill_while_writing(tmp_path, reference, monkeypatch, what):
    from contextlib import contextmanager

    from mmengine.runner import Runner

    import mmal.datasets.active_pool as active_pool
    real_dump, real_save = active_pool.dump_json_atomic, Runner.save_checkpoint

    def dying_dump(obj, path, **kwargs):
        if len(obj['history']) == 2:  # the state after cycle 1 is written
            with open(osp.join(osp.dirname(path), '.tmp-al_state.json'), 'w') as f:
                f.write('{"partial')
            raise RuntimeError('simulated kill while writing the state')
        real_dump(obj, path, **kwargs)

    def dying_save(self, out_dir, filename, *args, **kwargs):
        if filename == 'cycle_1.pth':
            with open(osp.join(out_dir, filename), 'wb') as f:
                f.write(b'partial')
            raise RuntimeError('simulated kill while writing the checkpoint')
        real_save(self, out_dir, filename, *args, **kwargs)

    @contextmanager
    def patch():
        with monkeypatch.context() as m:
            if what == 'state':
                m.setattr(active_pool, 'dump_json_atomic', dying_dump)
            else:
                m.setattr(Runner, 'save_checkpoint', dying_save)
            yield

    cfg = tiny_config(str(tmp_path), lloss=True)
    interrupted = kill_and_resume(cfg, reference, patch=patch)
    assert len(interrupted['history']) == 1
