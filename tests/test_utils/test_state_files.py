import json
import os
import stat
import subprocess
import sys

import pytest

from mmal.testing.al_runs import REPO
from mmal.utils import dump_json_atomic, plot_al_curves


def test_atomic_json_keeps_the_old_state_when_a_write_fails(tmp_path):
    path = str(tmp_path / 'al_state.json')
    dump_json_atomic({'labeled': [1, 2]}, path)
    with pytest.raises(TypeError):
        dump_json_atomic({'labeled': object()}, path)  # fails mid-write
    with open(path) as f:
        assert json.load(f) == {'labeled': [1, 2]}
    assert os.listdir(tmp_path) == ['al_state.json']  # no temporary left


@pytest.fixture
def umask():
    """Set the process umask for a test; the old one comes back after it."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize('mask', [0o022, 0o027, 0o077], ids=oct)
def test_atomic_files_follow_the_umask(tmp_path, umask, mask):
    """As an ordinary new file: 0666 less the umask, also when replacing."""
    umask(mask)
    path = str(tmp_path / 'state.json')
    dump_json_atomic({'a': 1}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask
    os.chmod(path, 0o600)
    dump_json_atomic({'a': 2}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask
    assert os.listdir(tmp_path) == ['state.json']


def history(values):
    return [dict(cycle=i, num_labeled=100 * (i + 1), metrics={'acc': v})
            for i, v in enumerate(values)]


def test_plot_al_curves_picks_the_first_metric(tmp_path):
    out = str(tmp_path / 'curve.png')
    assert plot_al_curves([('a', history([50., 60.]))], out) == 'acc'
    assert os.path.getsize(out) > 1000
    with pytest.raises(KeyError, match="'mAP' was not recorded"):
        plot_al_curves([('a', history([50.]))], out, metric='mAP')


def test_plot_tool_draws_several_runs(tmp_path):
    for name, values in (('lloss', [50., 70.]), ('random', [50., 65.])):
        os.makedirs(tmp_path / name)
        with open(tmp_path / name / 'al_state.json', 'w') as f:
            json.dump(dict(strategy=name, history=history(values)), f)
    out = str(tmp_path / 'both.png')
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, 'tools', 'plot_al_curve.py'),
         str(tmp_path / 'lloss'), str(tmp_path / 'random'), '--out', out],
        capture_output=True, text=True, check=True)
    assert os.path.getsize(out) > 1000
    assert 'lloss: 100: 50.00, 200: 70.00' in result.stdout
    assert 'random: 100: 50.00, 200: 65.00' in result.stdout
