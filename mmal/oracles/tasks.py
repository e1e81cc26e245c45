"""What differs between detection, pose and classification for a person who
labels: defined once per task here, read by every format (COCO, Label Studio,
the contact sheet).

A task says what its objects are (boxes, keypoints of a person, or one class per
image), which names they carry, how a model's prediction becomes tool-neutral
pre-annotation records, how a person's objects are checked, and how the
toolbox's visualizer draws a prediction. Objects and records are tool-neutral:
pixels of the displayed image.

- A prediction record: ``dict(score, label=int)`` (classification), ``dict(score,
  label, bbox=[x1, y1, x2, y2])`` (detection), ``dict(score, bbox, keypoints=[[x,
  y] or None, ...], keypoint_scores)`` (pose, one per person).
- A labeled object: ``dict(category, bbox=[x, y, w, h] or None, keypoints=[[x, y,
  v], ...] or None, where)``, ``where`` naming it in error messages.

Only attributes of the data samples are read, so this module imports no toolbox
(the visualizers are imported when drawn).
"""
import math
from typing import Dict, List, Optional, Sequence

from mmal.utils import InputError

# Float round-off of Label Studio's percent coordinates: overflows up to this many
# pixels are clamped silently; larger ones are errors (or clipped with --clip).
EPS = 0.01
POSE_CATEGORY = 'person'


class LabelImportError(InputError):
    """Bad labels: the message names the image or annotation and the fix."""


def _numpy(value):
    return value.detach().cpu().numpy() if hasattr(value, 'detach') else value


class AnnotationTask:
    """One task's schema; see the module docstring.

    Attributes:
        name (str): 'detection', 'pose' or 'classification'.
        boxes (bool): Objects have boxes.
        keypoints (bool): Objects are people with keypoints (one category).
        one_per_image (bool): An image has exactly one object, its class.
    """

    name = ''
    boxes = False
    keypoints = False
    one_per_image = False

    def label_names(self, metainfo: dict) -> List[str]:
        """Category names, or keypoint names for pose."""
        classes = metainfo.get('classes')
        if not classes:
            raise KeyError(f"{self.name} metainfo needs 'classes', the category "
                           'names')
        return list(classes)

    def categories(self, names: Sequence[str]) -> List[str]:
        """The category names objects may carry."""
        return list(names)

    def records(self, sample, score_thr: float) -> List[dict]:
        """Tool-neutral prediction records of one image, highest score first;
        instances under ``score_thr`` are dropped."""
        raise NotImplementedError

    def check_image(self, objects: List[dict], item: dict, names: Sequence[str],
                    where: str, clip: bool = False) -> List[dict]:
        """A person's objects of one image, checked against the image (boxes
        inside it with positive size, keypoints inside it); ``clip`` clips boxes
        to the image instead of refusing them. Returns the objects to keep."""
        width, height = item['width'], item['height']
        for obj in objects:
            if obj['bbox'] is not None:
                obj['bbox'] = _checked_box(obj, width, height, clip)
            for k, (kx, ky, v) in enumerate(obj['keypoints'] or ()):
                if v > 0 and not (-EPS <= kx <= width + EPS
                                  and -EPS <= ky <= height + EPS):
                    raise LabelImportError(
                        f'{obj["where"]}: keypoint {names[k]!r} at ({kx:g}, '
                        f'{ky:g}) lies beyond the {width}x{height} image; move it '
                        'inside or mark it not labeled (v=0)')
        return objects

    def visualizer(self, metainfo: dict):
        """The toolbox's visualizer for the contact sheet."""
        raise NotImplementedError

    def draw(self, visualizer, image, sample, score_thr: float):
        """``image`` (RGB) with the prediction ``sample`` drawn on it."""
        visualizer.add_datasample('query', image, sample, draw_gt=False,
                                  pred_score_thr=score_thr)
        return visualizer.get_image()


def _checked_box(obj: dict, width: int, height: int, clip: bool) -> List[float]:
    x, y, w, h = obj['bbox']
    if w <= 0 or h <= 0:
        raise LabelImportError(
            f'{obj["where"]}: box [x={x:g}, y={y:g}, w={w:g}, h={h:g}] has '
            'non-positive size; redraw or delete it')
    x1, y1, x2, y2 = x, y, x + w, y + h
    outside = x1 < -EPS or y1 < -EPS or x2 > width + EPS or y2 > height + EPS
    if outside and not clip:
        raise LabelImportError(
            f'{obj["where"]}: box [x1={x1:g}, y1={y1:g}, x2={x2:g}, y2={y2:g}] lies '
            f'outside the {width}x{height} image; fix it, or import with --clip to '
            'clip boxes to the image')
    x1, y1 = max(x1, 0.0), max(y1, 0.0)
    x2, y2 = min(x2, float(width)), min(y2, float(height))
    if x2 <= x1 or y2 <= y1:
        raise LabelImportError(f'{obj["where"]}: box lies entirely outside the '
                               f'{width}x{height} image')
    return [x1, y1, x2 - x1, y2 - y1]


def _palette(num: int) -> list:
    import numpy as np
    rng = np.random.default_rng(0)
    return [tuple(int(c) for c in rng.integers(40, 256, 3)) for _ in range(num)]


class DetectionTask(AnnotationTask):
    name = 'detection'
    boxes = True

    def records(self, sample, score_thr):
        inst = sample.pred_instances
        records = [dict(label=int(label), score=float(score),
                        bbox=[float(v) for v in bbox])
                   for bbox, score, label in zip(_numpy(inst.bboxes),
                                                 _numpy(inst.scores),
                                                 _numpy(inst.labels))]
        return _above(records, score_thr)

    def visualizer(self, metainfo):
        from mmdet.visualization import DetLocalVisualizer
        vis = DetLocalVisualizer.get_instance('mmal_contact_sheet_detection')
        vis.dataset_meta = dict(
            classes=metainfo['classes'],
            palette=metainfo.get('palette') or _palette(len(metainfo['classes'])))
        return vis


class PoseTask(AnnotationTask):
    """Top-down or bottom-up people; an image's prediction may be a list of
    data samples (one per person box)."""

    name = 'pose'
    boxes = True
    keypoints = True

    def label_names(self, metainfo):
        id2name = metainfo.get('keypoint_id2name')
        if not id2name:
            raise KeyError("Pose metainfo needs 'keypoint_id2name' (mmpose's "
                           'parse_pose_metainfo gives it)')
        return [id2name[i] for i in range(len(id2name))]

    def categories(self, names):
        return [POSE_CATEGORY]

    def records(self, sample, score_thr):
        records = []
        for one in sample if isinstance(sample, (list, tuple)) else [sample]:
            inst = one.pred_instances
            keypoints = _numpy(inst.keypoints)
            kpt_scores = _numpy(inst.keypoint_scores)
            bboxes = (_numpy(inst.bboxes) if 'bboxes' in inst else
                      [None] * len(keypoints))
            bbox_scores = (_numpy(inst.bbox_scores) if 'bbox_scores' in inst else
                           [float(s.mean()) for s in kpt_scores])
            for kpts, kscores, bbox, score in zip(keypoints, kpt_scores, bboxes,
                                                  bbox_scores):
                if bbox is None:
                    bbox = [*kpts.min(axis=0), *kpts.max(axis=0)]
                records.append(dict(
                    score=float(score), bbox=[float(v) for v in bbox],
                    keypoints=[[float(x), float(y)] for x, y in kpts],
                    keypoint_scores=[float(s) for s in kscores]))
        return _above(records, score_thr)

    def visualizer(self, metainfo):
        from mmpose.visualization import PoseLocalVisualizer
        vis = PoseLocalVisualizer.get_instance('mmal_contact_sheet_pose')
        vis.set_dataset_meta(metainfo)
        return vis

    def draw(self, visualizer, image, sample, score_thr):
        if isinstance(sample, (list, tuple)):
            from mmpose.structures import merge_data_samples
            sample = merge_data_samples(sample)
        visualizer.add_datasample('query', image, sample, draw_gt=False,
                                  draw_bbox=True, kpt_thr=score_thr)
        return visualizer.get_image()


class ClassificationTask(AnnotationTask):
    name = 'classification'
    one_per_image = True

    def records(self, sample, score_thr):
        # The class is a label even when its score is low.
        scores = _numpy(sample.pred_score)
        label = int(_numpy(sample.pred_label).reshape(-1)[0])
        return [dict(label=label, score=float(scores[label]))]

    def check_image(self, objects, item, names, where, clip=False):
        # An image listed without its class would train on label -1.
        classes = sorted({obj['category'] for obj in objects})
        if not classes:
            raise LabelImportError(
                f'{where} has no annotation: classification needs its category; '
                'give it one, or leave the image out to keep it awaited')
        if len(classes) > 1:
            raise LabelImportError(
                f'{where} has annotations of {len(classes)} categories {classes}: '
                'classification needs exactly one; keep the right one')
        return objects[:1]  # the same class twice is one label

    def visualizer(self, metainfo):
        from mmpretrain.visualization import UniversalVisualizer
        vis = UniversalVisualizer.get_instance('mmal_contact_sheet_classification')
        vis.dataset_meta = dict(classes=metainfo['classes'])
        return vis

    def draw(self, visualizer, image, sample, score_thr):
        return visualizer.visualize_cls(image, sample, draw_gt=False,
                                        draw_pred=True)


def _above(records: List[dict], score_thr: float) -> List[dict]:
    records = [r for r in records if r['score'] >= score_thr]
    return sorted(records, key=lambda r: -r['score'])


TASKS: Dict[str, AnnotationTask] = {
    task.name: task for task in (DetectionTask(), PoseTask(), ClassificationTask())}
# The toolbox a model class comes from, for a task before any prediction.
_TOOLBOX_TASKS = dict(mmdet='detection', mmpose='pose', mmpretrain='classification')


def get_task(name: str) -> AnnotationTask:
    if name not in TASKS:
        raise ValueError(f'task={name!r}; choose one of {tuple(TASKS)}')
    return TASKS[name]


def task_of(sample) -> AnnotationTask:
    """The task of a prediction data sample (or of a list of them)."""
    sample = sample[0] if isinstance(sample, (list, tuple)) and sample else sample
    if not hasattr(sample, 'keys'):
        raise TypeError(f'Predictions must be toolbox data samples, got '
                        f'{type(sample).__name__}')
    if 'pred_instances' in sample:
        if 'keypoints' in sample.pred_instances:
            return TASKS['pose']
        if 'bboxes' in sample.pred_instances:
            return TASKS['detection']
    if 'pred_label' in sample:
        return TASKS['classification']
    raise TypeError(f'Cannot tell the task of a {type(sample).__name__} with fields '
                    f'{sorted(sample.keys())}: expected pred_instances with bboxes '
                    '(mmdet) or keypoints (mmpose), or pred_label (mmpretrain)')


def task_of_model(model, predictions: Optional[Sequence] = None
                  ) -> AnnotationTask:
    """The task of the predictions, or, before any (a cold start), of the model:
    the toolbox its target model class comes from."""
    if predictions:
        return task_of(predictions[0])
    model = getattr(model, 'module', model)
    model = getattr(model, 'target', model)
    for cls in type(model).__mro__:
        package = cls.__module__.split('.')[0]
        if package in _TOOLBOX_TASKS:
            return TASKS[_TOOLBOX_TASKS[package]]
    raise TypeError(f'Cannot tell the task of a {type(model).__name__}: expected '
                    'an mmdet, mmpose or mmpretrain model')


def finite_numbers(values, count: Optional[int], where: str,
                   what: str) -> List[float]:
    """``values`` as floats if it is a list of ``count`` finite numbers."""
    import reprlib
    ok = (isinstance(values, list) and (count is None or len(values) == count)
          and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                  and math.isfinite(v) for v in values))
    if not ok:
        raise LabelImportError(f'{where}: {what} must be {count or "a list of"} '
                               f'finite numbers, got {reprlib.repr(values)}')
    return [float(v) for v in values]
