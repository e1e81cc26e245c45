"""Query export for annotators, in ``queries/<query>/``: ``query.csv``,
``coco_predictions.json``, and Label Studio tasks with their labeling config,
the model's predictions as pre-annotations (:mod:`mmal.oracles.formats`).

The chosen items are :func:`mmal.oracles.human.export_items` (``rank``, ``key``,
``score``, ``img_path``, ``width``, ``height``, in query order); the predictions
are the model's data samples in the same order (mmdet ``DetDataSample``, mmpose
``PoseDataSample`` or a list of them per image, mmpretrain ``DataSample``).
Coordinates are the original image's pixels (mmdet and mmpose predict with
``rescale=True``).
"""
import os.path as osp
from typing import List, Optional, Sequence

from mmal.utils import dump_json_atomic, write_atomic
from .formats import coco, label_studio, query_csv
from .tasks import AnnotationTask


def inside_image(records: List[dict], item: dict) -> List[dict]:
    """``records`` with every predicted keypoint outside the image replaced by
    ``None`` (a top-down model may place them anywhere in its crop): exported
    as not labeled, as the import accepts only keypoints inside the image."""
    width, height = item['width'], item['height']
    for record in records:
        if 'keypoints' in record:
            record['keypoints'] = [
                [x, y] if 0 <= x <= width and 0 <= y <= height else None
                for x, y in record['keypoints']]
    return records


def prediction_records(task: AnnotationTask, items: Sequence[dict],
                       predictions: Optional[Sequence], score_thr: float
                       ) -> Optional[List[list]]:
    """Each image's pre-annotation records; None without predictions (a cold
    start, before any model)."""
    if predictions is None:
        return None
    if len(predictions) != len(items):
        raise ValueError(f'{len(predictions)} predictions for {len(items)} chosen '
                         'images: give one data sample (or list) per image')
    return [inside_image(task.records(p, score_thr), item)
            for p, item in zip(predictions, items)]


def write_query_files(query_dir: str, task: AnnotationTask, items: Sequence[dict],
                      predictions: Optional[Sequence], metainfo: dict,
                      query_id: str, score_thr: float = 0.3,
                      image_url: Optional[Sequence[str]] = None) -> dict:
    """Write ``query.csv``, ``coco_predictions.json``, ``labelstudio_tasks.json`` and
    ``labelstudio_config.xml`` into ``query_dir``; returns their paths."""
    names = task.label_names(metainfo)
    records = prediction_records(task, items, predictions, score_thr)
    paths = {name: osp.join(query_dir, file) for name, file in (
        ('csv', 'query.csv'), ('coco', 'coco_predictions.json'),
        ('labelstudio_tasks', 'labelstudio_tasks.json'),
        ('labelstudio_config', 'labelstudio_config.xml'))}
    query_csv.write(paths['csv'], items)
    dump_json_atomic(coco.predictions(task, items, records or [[] for _ in items],
                                      names, query_id), paths['coco'])
    dump_json_atomic(label_studio.tasks(task, items, records, names, query_id,
                                        model_version(query_id), image_url),
                     paths['labelstudio_tasks'])
    write_atomic(label_studio.labeling_config(task, names),
                 paths['labelstudio_config'])
    return paths


def model_version(query_id: str) -> str:
    """The ``model_version`` of a query's predictions: the run's id and query."""
    return f'mmal {query_id}'
