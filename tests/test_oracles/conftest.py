"""An image folder and a user's COCO file; work dirs with an open detection, pose or
classification query exported by ``HumanOracle``."""
import os
import os.path as osp

import pytest

from mmal.testing.coco_format import write_coco, write_image_folder
from mmal.testing.human_labels import CLASSES, copy_query, open_query


def pytest_configure(config):
    config.addinivalue_line('markers', 'labelstudio: needs a real Label Studio '
                            'server (its own venv, created on first use)')


@pytest.fixture(scope='session')
def data(tmp_path_factory):
    """``img_root`` with the pool images and the user's ``ann_file``."""
    root = tmp_path_factory.mktemp('data')
    img_root = str(root / 'images')
    write_image_folder(img_root)
    ann_file = str(root / 'annotations' / 'labeled.json')
    os.makedirs(osp.dirname(ann_file))
    write_coco(ann_file, img_root, CLASSES)
    return dict(root=str(root), img_root=img_root, ann_file=ann_file)


@pytest.fixture
def det_query(data, tmp_path):
    return open_query(data, str(tmp_path / 'work_dir'))


@pytest.fixture(scope='session')
def det_query_template(data, tmp_path_factory):
    """One exported detection query; tests that change it get a copy."""
    return open_query(data, str(tmp_path_factory.mktemp('template') / 'work_dir'))


@pytest.fixture
def det_copy(det_query_template, tmp_path):
    return copy_query(det_query_template, str(tmp_path / 'work_dir'))


@pytest.fixture(scope='session')
def label_studio(tmp_path_factory):
    """A real Label Studio server on 127.0.0.1 (its venv is created on first
    use, ~1.5 min; the server takes ~40 s to answer), serving local files under
    the session's temporary folder, stopped at the end."""
    from mmal.testing.label_studio import label_studio_server
    with label_studio_server(str(tmp_path_factory.getbasetemp())) as client:
        yield client
