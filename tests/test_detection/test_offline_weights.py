"""tools/al_train.py stops before training when pretrained weights can be neither
found in the download cache nor fetched (offline cluster nodes)."""
import os.path as osp

from mmal.testing.al_runs import al_train, write_config


def test_al_train_reports_unreachable_weights(tmp_path, voc, monkeypatch):
    monkeypatch.chdir(voc['root'])
    config = write_config(str(tmp_path / 'cfg.py'), 'ssd_vgg16_voc_random.py', '')
    result = al_train(config, str(tmp_path / 'work'), check=False,
                      env=dict(TORCH_HOME=str(tmp_path / 'torch'), MMAL_OFFLINE='1'))
    assert result.returncode != 0
    assert 'Pretrained weights cannot be loaded' in result.stderr
    assert 'model.backbone.init_cfg.checkpoint=/path/to/' in result.stderr
    assert not osp.exists(osp.join(tmp_path, 'work', 'al_state.json'))
