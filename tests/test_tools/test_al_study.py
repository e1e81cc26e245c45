"""tools/al_study.py: the aggregation on known numbers, and a small study on the
digits end to end."""
import csv
import math
import os.path as osp

import pytest

from mmal.testing.al_runs import REPO, read_state, run_tool, write_config
from mmal.utils import (curve_auc, mean_std, paired_difference, study_markdown,
                        study_rows, write_study_csv)


def test_mean_and_sample_std():
    mean, std = mean_std([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert std == pytest.approx(math.sqrt(5 / 3))  # ddof=1
    mean, std = mean_std([7.0])
    assert mean == 7.0 and math.isnan(std)


def test_auc_is_the_mean_value_over_the_labeled_range():
    # (80 + 90) / 2 * 100 + 90 * 200 = 26,500 over a range of 300.
    assert curve_auc({100: 80.0, 400: 90.0, 200: 90.0}) == pytest.approx(265 / 3)
    assert curve_auc({100: 90.0, 300: 90.0}) == pytest.approx(90.0)
    assert curve_auc({50: 42.0}) == 42.0


def test_paired_difference_t_interval():
    values = {0: 3.0, 1: 5.0, 2: 4.0}
    baseline = {0: 1.0, 1: 2.0, 2: 2.0, 3: 9.0}  # seed 3 has no pair
    mean, low, high, n = paired_difference(values, baseline)
    # Differences 2, 3, 2: mean 7/3, sd sqrt(1/3), t(0.975, 2 dof) = 4.302653.
    half = 4.302652729911275 * math.sqrt(1 / 3) / math.sqrt(3)
    assert n == 3
    assert mean == pytest.approx(7 / 3)
    assert (low, high) == pytest.approx((7 / 3 - half, 7 / 3 + half))
    mean, low, high, n = paired_difference({0: 1.0}, {0: 0.5})
    assert (mean, n) == (0.5, 1) and math.isnan(low) and math.isnan(high)


STUDY = {
    'lloss': {0: {100: 80.0, 200: 90.0}, 1: {100: 82.0, 200: 94.0}},
    'random': {0: {100: 81.0, 200: 89.0}, 1: {100: 81.0}},
}


def test_rows_csv_and_markdown(tmp_path):
    rows = {(r['config'], r['num_labeled']): r for r in study_rows(STUDY)}
    assert rows['lloss', 200]['mean'] == 92.0
    assert rows['lloss', 200]['std'] == pytest.approx(math.sqrt(8))
    assert rows['random', 200]['n'] == 1 and math.isnan(rows['random', 200]['std'])
    path = str(tmp_path / 'study.csv')
    write_study_csv(STUDY, path)
    with open(path) as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ['config', 'num_labeled', 'mean', 'std', 'n',
                              'seed_0', 'seed_1']
    assert table[3] == dict(config='random', num_labeled='200', mean='89.0', std='',
                            n='1', seed_0='89.0', seed_1='')
    text = study_markdown(STUDY, 'accuracy/top1', baseline='random')
    # lloss AUC per seed: 85 and 88; random's seed 1 did not finish, so its AUC
    # is seed 0's alone, and the paired AUC difference has one pair.
    assert '| lloss | 81.00 ± 1.41 (2) | 92.00 ± 2.83 (2) | 86.50 ± 2.12 |' in text
    assert '| random | 81.00 ± 0.00 (2) | 89.00 ± – (1) | 85.00 ± – |' in text
    assert ('| lloss | +0.00 [-12.71, +12.71] (2) | +1.00 [–, –] (1) | '
            '+0.00 [–, –] (1) |') in text
    assert 'same initial labeled set' in text


# Two strategies that run on the digits in any checkout of the loop: random
# selection on the plain model and on the learning-loss model.
# batch 10: the digits configs drop the last incomplete batch.
BUDGETS = ['train_cfg.initial_size=20', 'train_cfg.query_size=10',
           'train_cfg.subset_size=40', 'train_cfg.max_epochs=1',
           'train_dataloader.batch_size=10']
TINY = ['train_cfg.cycles=2', *BUDGETS]


def al_study(*args):
    return run_tool('al_study.py', *args, check=False, timeout=900)


def test_small_digits_study_end_to_end(tmp_path):
    lloss_random = write_config(
        str(tmp_path / 'lloss_random.py'), 'demo/resnet18_digits_lloss.py',
        "train_cfg = dict(strategy=dict(_delete_=True, type='RandomStrategy'))\n")
    random = osp.join(REPO, 'configs', 'demo', 'resnet18_digits_random.py')
    study_dir = str(tmp_path / 'study')
    args = [random, lloss_random, '--seeds', '0', '1', '--work-dir', study_dir,
            '--jobs', '2', '--baseline', 'resnet18_digits_random',
            '--cfg-options', *TINY]
    result = al_study(*args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count(': done in') == 4
    with open(osp.join(study_dir, 'study.csv')) as f:
        rows = list(csv.DictReader(f))
    assert [(r['config'], r['num_labeled'], r['n']) for r in rows] == [
        ('resnet18_digits_random', '20', '2'), ('resnet18_digits_random', '30', '2'),
        ('lloss_random', '20', '2'), ('lloss_random', '30', '2')]
    states = {(name, seed): read_state(osp.join(study_dir, name, f'seed_{seed}'))
              for name in ('resnet18_digits_random', 'lloss_random') for seed in (0, 1)}
    for (name, seed), state in states.items():
        assert state['seed'] == seed
        row = next(r for r in rows if r['config'] == name and r['num_labeled'] == '30')
        assert float(row[f'seed_{seed}']) == state['history'][1]['metrics'][
            'accuracy/top1']

    def initial(name, seed):
        return [item['key'] for item in states[name, seed]['labeled'][:20]]

    # Same seed, same initial labels across configs; another seed, others.
    assert initial('resnet18_digits_random', 0) == initial('lloss_random', 0)
    assert initial('resnet18_digits_random', 0) != initial('resnet18_digits_random', 1)
    text = open(osp.join(study_dir, 'study.md')).read()
    assert '## Paired difference to `resnet18_digits_random`' in text
    assert 'lloss_random' in text.split('Wall time per run')[1]
    assert osp.getsize(osp.join(study_dir, 'study.png')) > 5000

    again = al_study(*args)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert '4 finished already, 0 to run' in again.stdout
    with open(osp.join(study_dir, 'study.csv')) as f:
        assert list(csv.DictReader(f)) == rows


def test_failed_run_is_reported_and_the_others_go_on(tmp_path):
    broken = write_config(str(tmp_path / 'broken.py'), 'demo/resnet18_digits_random.py',
                          "model = dict(backbone=dict(depth=19))\n")  # no such ResNet
    random = osp.join(REPO, 'configs', 'demo', 'resnet18_digits_random.py')
    study_dir = str(tmp_path / 'study')
    result = al_study(broken, random, '--seeds', '3', '--work-dir', study_dir,
                      '--cfg-options', 'train_cfg.cycles=1', *BUDGETS)
    assert result.returncode == 1
    log = osp.join(study_dir, 'broken', 'seed_3', 'al_study.log')
    assert 'broken seed 3: FAILED (exit 1)' in result.stdout and log in result.stdout
    assert 'invalid depth 19' in open(log).read()
    assert 'resnet18_digits_random seed 3: done in' in result.stdout
    with open(osp.join(study_dir, 'study.csv')) as f:
        assert [r['config'] for r in csv.DictReader(f)] == ['resnet18_digits_random']
    assert f'`broken seed 3` failed; log: `{log}`' in open(
        osp.join(study_dir, 'study.md')).read()
