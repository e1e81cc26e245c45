"""Predictions, annotator answers and file hashes for the human-in-the-loop tests.

Predictions are the toolboxes' own data samples (mmdet ``DetDataSample``, mmpose
``PoseDataSample``, mmpretrain ``DataSample``) filled with known values, so the
tests know what every export must contain. ``annotate_tasks`` turns exported Label
Studio tasks into the export Label Studio writes after annotation (its JSON
schema as seen from Label Studio 1.23: ``annotations[].result``,
``was_cancelled``).
"""
import copy
import hashlib
import importlib.util
import json
import os
import os.path as osp
import shutil
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from mmal.oracles import HumanOracle, LabelsAwaited, init_labels
from mmal.oracles.human import export_items
from mmal.oracles.tasks import get_task
from mmal.testing.coco_format import POOL_IMAGES

CLASSES = ('car', 'person', 'traffic light')
# Queried pool images, highest score first.
QUERY = ['park/img_002.jpg', 'street/img_000.jpg', 'rotated_004.jpg',
         'gray_003.png']

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def hash_tree(*paths: str) -> Dict[str, str]:
    """sha256 of every file under the given files and folders."""
    hashes = {}
    for root in paths:
        files = [root] if osp.isfile(root) else [
            osp.join(folder, name) for folder, _, names in os.walk(root)
            for name in names]
        for path in files:
            with open(path, 'rb') as f:
                hashes[path] = hashlib.sha256(f.read()).hexdigest()
    return hashes


def load_tool(name: str):
    """``tools/<name>.py`` as a module, to call its ``main(argv)`` in-process."""
    spec = importlib.util.spec_from_file_location(
        f'mmal_tool_{name}', osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def detection_prediction(width: int, height: int, seed: int, num_classes: int):
    """A ``DetDataSample``: two confident boxes and one under the 0.3 threshold."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    rng = np.random.default_rng(seed)
    boxes = []
    for _ in range(3):
        w, h = rng.uniform(20, width / 2), rng.uniform(20, height / 2)
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        boxes.append([x, y, x + w, y + h])
    sample = DetDataSample(metainfo=dict(img_shape=(height, width),
                                         ori_shape=(height, width)))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32),
        scores=torch.tensor([0.9, 0.6, 0.1]),
        labels=torch.tensor(rng.integers(0, num_classes, 3)))
    return sample


def pose_metainfo(dataset: str = 'coco') -> dict:
    """mmpose's own metainfo of a dataset (keypoint names, colours, skeleton)."""
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    import mmpose
    path = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_',
                    'datasets', f'{dataset}.py')
    return parse_pose_metainfo(dict(from_file=path))


def pose_prediction(width: int, height: int, seed: int, num_keypoints: int,
                    persons: int = 2):
    """A ``PoseDataSample`` with ``persons`` people (box, keypoints, scores)."""
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample
    rng = np.random.default_rng(seed)
    bboxes, keypoints = [], []
    for _ in range(persons):
        w, h = rng.uniform(30, width / 2), rng.uniform(40, height / 2)
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        bboxes.append([x, y, x + w, y + h])
        keypoints.append(np.stack([rng.uniform(x, x + w, num_keypoints),
                                   rng.uniform(y, y + h, num_keypoints)], -1))
    sample = PoseDataSample(metainfo=dict(ori_shape=(height, width),
                                          img_shape=(height, width)))
    sample.pred_instances = InstanceData(
        bboxes=np.array(bboxes, np.float32),
        bbox_scores=np.linspace(0.95, 0.7, persons).astype(np.float32),
        keypoints=np.array(keypoints, np.float32),
        keypoint_scores=rng.uniform(0.5, 1.0, (persons, num_keypoints)).astype(
            np.float32))
    return sample


def classification_prediction(seed: int, num_classes: int):
    """An mmpretrain ``DataSample`` with a softmax score and its arg-max label."""
    from mmpretrain.structures import DataSample
    scores = torch.softmax(torch.tensor(
        np.random.default_rng(seed).normal(size=num_classes) * 3), 0).float()
    return DataSample().set_pred_score(scores).set_pred_label(
        int(scores.argmax()))


def annotate_tasks(tasks: List[dict],
                   answer: Callable[[dict], Optional[List[dict]]]) -> List[dict]:
    """Label Studio's JSON export of ``tasks`` after annotation: ``answer(task)``
    returns the annotation's result (``[]`` = annotated, nothing there) or None
    (not annotated). Predictions are accepted as they are unless ``answer``
    changes them."""
    exported = []
    for n, task in enumerate(tasks, 1):
        task = copy.deepcopy(task)
        result = answer(task)
        annotations = [] if result is None else [dict(
            id=n, completed_by=1, result=result, was_cancelled=False,
            ground_truth=False, prediction=task['predictions'][0])]
        exported.append(dict(id=n, annotations=annotations, drafts=[],
                             predictions=[n], data=task['data'], meta={},
                             project=1, inner_id=n))
    return exported


def accept_predictions(task: dict) -> List[dict]:
    """An annotator who accepts the pre-annotations (without their scores)."""
    return [{k: v for k, v in region.items() if k != 'score'}
            for region in task['predictions'][0]['result']]


def query_predictions(task: str, metainfo: dict) -> list:
    """The model's data sample for each image of ``QUERY``."""
    if task == 'detection':
        return [detection_prediction(*POOL_IMAGES[key], seed, len(CLASSES))
                for seed, key in enumerate(QUERY)]
    if task == 'pose':
        return [pose_prediction(*POOL_IMAGES[key], seed, metainfo['num_keypoints'])
                for seed, key in enumerate(QUERY)]
    return [classification_prediction(seed, len(CLASSES))
            for seed in range(len(QUERY))]


def open_query(data: dict, work_dir: str, task: str = 'detection',
               contact_sheet: bool = False, cycle: int = 1) -> dict:
    """A work dir whose run exported ``QUERY`` and awaits its labels."""
    metainfo = (pose_metainfo() if task == 'pose' else dict(classes=CLASSES))
    ann_file = data['ann_file']
    if task != 'detection':
        # The user's file of another task: start from an empty labeled set.
        ann_file = osp.join(osp.dirname(work_dir), f'user_{task}.json')
        os.makedirs(osp.dirname(ann_file), exist_ok=True)
        with open(ann_file, 'w') as f:
            json.dump(dict(images=[], annotations=[], categories=[]), f)
    init_labels(work_dir, ann_file)
    queried = [dict(key=key, score=1.0 - 0.1 * i) for i, key in enumerate(QUERY)]
    preds = query_predictions(task, metainfo)
    result = write_open_query(work_dir, data['img_root'], data['img_root'],
                              queried, preds, metainfo, task, cycle,
                              contact_sheet=contact_sheet)
    return dict(work_dir=work_dir, result=result, predictions=preds,
                metainfo=metainfo, query_dir=osp.join(work_dir, 'queries',
                                                      f'cycle_{cycle}'))


def write_open_query(work_dir: str, img_root: str, label_root: str,
                     queried: List[dict], predictions: list, metainfo: dict,
                     task: str, cycle: int, contact_sheet: bool = False
                     ) -> LabelsAwaited:
    """What the loop leaves after a ``HumanOracle`` delivery: the export in
    ``queries/cycle_<cycle>/`` and the open query in ``al_state.json``."""
    oracle = HumanOracle(contact_sheet=contact_sheet)
    oracle.attach(work_dir, img_root, label_root)
    name, task = f'cycle_{cycle}', get_task(task)
    items = export_items(queried, [{} for _ in queried], img_root)
    oracle.export(name, items, predictions, metainfo, task)
    awaiting = dict(
        cycle=cycle, query_size=len(queried), subset_size=len(queried),
        queried=[dict(q, width=item['width'], height=item['height'])
                 for q, item in zip(queried, items)],
        oracle=oracle.handed_over(name, task, metainfo))
    with open(osp.join(work_dir, 'al_state.json'), 'w') as f:
        json.dump(dict(version=3, history=[], awaiting=awaiting), f)
    return LabelsAwaited(oracle, awaiting)


def close_query(work_dir: str) -> None:
    """The loop took the open query's labels: nothing awaits any more."""
    path = osp.join(work_dir, 'al_state.json')
    state = read_json(path)
    state['awaiting'] = None
    with open(path, 'w') as f:
        json.dump(state, f)


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def write_json(obj, path) -> str:
    with open(path, 'w') as f:
        json.dump(obj, f)
    return str(path)


def copy_query(query: dict, work_dir: str) -> dict:
    """A copy of an :func:`open_query` work dir, for a test that changes it."""
    shutil.copytree(query['work_dir'], work_dir)
    return dict(query, work_dir=work_dir, query_dir=osp.join(
        work_dir, 'queries', osp.basename(query['query_dir'])))


def exported_coco(query: dict) -> dict:
    """The query's ``coco_predictions.json``, as an annotator would get it."""
    return read_json(osp.join(query['query_dir'], 'coco_predictions.json'))


def exported_labelstudio(query: dict, answer=accept_predictions) -> List[dict]:
    """Label Studio's export after annotating the query's tasks with ``answer``."""
    return annotate_tasks(
        read_json(osp.join(query['query_dir'], 'labelstudio_tasks.json')), answer)
