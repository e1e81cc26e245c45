"""Query export for annotators: ``query.csv``, ``coco_predictions.json`` and Label
Studio tasks with their labeling config, the model's predictions as
pre-annotations.

The writers take the chosen items (``dict(key, score, img_path, width, height)``
in query order, see :func:`mmal.oracles.human.query_items`), the model's
prediction data samples in the same order (mmdet ``DetDataSample``, mmpose
``PoseDataSample`` or a list of them per image, mmpretrain ``DataSample``) and the
dataset's ``metainfo``. Only attributes are read, so this module imports no
toolbox. Coordinates are the original image's pixels (mmdet and mmpose predict
with ``rescale=True``).
"""
import csv
import io
from typing import List, Optional, Sequence
from xml.sax.saxutils import quoteattr

from mmal.utils import dump_json_atomic, write_atomic

TASKS = ('detection', 'pose', 'classification')
# Label Studio control names, shared by the config, the tasks and the import.
LS_IMAGE, LS_BOX, LS_KEYPOINT, LS_CHOICE = 'image', 'label', 'keypoint', 'choice'
POSE_CATEGORY = 'person'


def infer_task(sample) -> str:
    """'detection', 'pose' or 'classification' from a prediction data sample."""
    sample = sample[0] if isinstance(sample, (list, tuple)) and sample else sample
    if not hasattr(sample, 'keys'):
        raise TypeError(f'Predictions must be toolbox data samples, got '
                        f'{type(sample).__name__}')
    if 'pred_instances' in sample:
        if 'keypoints' in sample.pred_instances:
            return 'pose'
        if 'bboxes' in sample.pred_instances:
            return 'detection'
    if 'pred_label' in sample:
        return 'classification'
    raise TypeError(f'Cannot tell the task of a {type(sample).__name__} with fields '
                    f'{sorted(sample.keys())}: expected pred_instances with bboxes '
                    '(mmdet) or keypoints (mmpose), or pred_label (mmpretrain)')


def label_names(task: str, metainfo: dict) -> List[str]:
    """Category names (detection, classification) or keypoint names (pose)."""
    if task == 'pose':
        id2name = metainfo.get('keypoint_id2name')
        if not id2name:
            raise KeyError("Pose metainfo needs 'keypoint_id2name' (mmpose's "
                           'parse_pose_metainfo gives it)')
        return [id2name[i] for i in range(len(id2name))]
    classes = metainfo.get('classes')
    if not classes:
        raise KeyError(f"{task} metainfo needs 'classes', the category names")
    return list(classes)


def _numpy(value):
    return value.detach().cpu().numpy() if hasattr(value, 'detach') else value


def prediction_records(task: str, sample, score_thr: float = 0.3) -> List[dict]:
    """Tool-neutral predictions of one image, highest score first.

    detection: ``dict(label, score, bbox=[x1, y1, x2, y2])``; pose: ``dict(score,
    bbox, keypoints=[[x, y], ...], keypoint_scores)`` per person (all persons of a
    list of samples); classification: one ``dict(label, score)``. Instances under
    ``score_thr`` are dropped (pose: persons by their bbox score).
    """
    if task == 'classification':
        scores = _numpy(sample.pred_score)
        label = int(_numpy(sample.pred_label).reshape(-1)[0])
        return [dict(label=label, score=float(scores[label]))]
    samples = sample if isinstance(sample, (list, tuple)) else [sample]
    records = []
    for one in samples:
        inst = one.pred_instances
        if task == 'detection':
            for bbox, score, label in zip(_numpy(inst.bboxes), _numpy(inst.scores),
                                          _numpy(inst.labels)):
                records.append(dict(label=int(label), score=float(score),
                                    bbox=[float(v) for v in bbox]))
            continue
        keypoints, kpt_scores = _numpy(inst.keypoints), _numpy(inst.keypoint_scores)
        bboxes = _numpy(inst.bboxes) if 'bboxes' in inst else [None] * len(keypoints)
        bbox_scores = (_numpy(inst.bbox_scores) if 'bbox_scores' in inst else
                       [float(s.mean()) for s in kpt_scores])
        for kpts, kscores, bbox, score in zip(keypoints, kpt_scores, bboxes,
                                              bbox_scores):
            if bbox is None:
                bbox = [*kpts.min(axis=0), *kpts.max(axis=0)]
            records.append(dict(score=float(score), bbox=[float(v) for v in bbox],
                                keypoints=[[float(x), float(y)] for x, y in kpts],
                                keypoint_scores=[float(s) for s in kscores]))
    records = [r for r in records if r['score'] >= score_thr]
    return sorted(records, key=lambda r: -r['score'])


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


def write_query_csv(path: str, items: Sequence[dict]) -> None:
    """``rank,key,img_path,score,width,height``: one row per chosen image."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(['rank', 'key', 'img_path', 'score', 'width', 'height'])
    for item in items:
        score = item.get('score')
        writer.writerow([item['rank'], item['key'], item['img_path'],
                         '' if score is None else f'{score:.6g}', item['width'],
                         item['height']])
    write_atomic(out.getvalue(), path)


def coco_predictions(task: str, items: Sequence[dict], records: Sequence[list],
                     names: Sequence[str], query_id: str) -> dict:
    """A COCO dataset of the chosen images with the predictions as annotations,
    each with its ``score`` (classification: one annotation without ``bbox``)."""
    if task == 'pose':
        categories = [dict(id=1, name=POSE_CATEGORY, supercategory=POSE_CATEGORY,
                           keypoints=list(names), skeleton=[])]
    else:
        categories = [dict(id=i + 1, name=name) for i, name in enumerate(names)]
    images, annotations = [], []
    for image_id, (item, preds) in enumerate(zip(items, records), 1):
        images.append(dict(id=image_id, file_name=item['key'], width=item['width'],
                           height=item['height']))
        for pred in preds:
            ann = dict(id=len(annotations) + 1, image_id=image_id,
                       score=pred['score'], iscrowd=0)
            if task == 'classification':
                ann['category_id'] = pred['label'] + 1
            else:
                x1, y1, x2, y2 = pred['bbox']
                ann.update(category_id=1 if task == 'pose' else pred['label'] + 1,
                           bbox=[x1, y1, x2 - x1, y2 - y1],
                           area=(x2 - x1) * (y2 - y1))
            if task == 'pose':
                ann['keypoints'] = [v for point in pred['keypoints']
                                    for v in ((*point, 2) if point else (0, 0, 0))]
                ann['num_keypoints'] = sum(1 for point in pred['keypoints'] if point)
                ann['keypoint_scores'] = pred['keypoint_scores']
            annotations.append(ann)
    return dict(info=dict(description=f'mmal query {query_id}', mmal_query=query_id),
                images=images, annotations=annotations, categories=categories)


def labelstudio_config(task: str, names: Sequence[str]) -> str:
    """The Label Studio labeling config that :func:`labelstudio_tasks` fits."""
    def tags(tag):
        return ''.join(f'\n    <{tag} value={quoteattr(name)}/>' for name in names)
    image = f'  <Image name="{LS_IMAGE}" value="$image" zoom="true"/>\n'
    if task == 'detection':
        controls = (f'  <RectangleLabels name="{LS_BOX}" toName="{LS_IMAGE}">'
                    f'{tags("Label")}\n  </RectangleLabels>\n')
    elif task == 'pose':
        controls = (f'  <RectangleLabels name="{LS_BOX}" toName="{LS_IMAGE}">\n'
                    f'    <Label value="{POSE_CATEGORY}"/>\n  </RectangleLabels>\n'
                    f'  <KeyPointLabels name="{LS_KEYPOINT}" toName="{LS_IMAGE}">'
                    f'{tags("Label")}\n  </KeyPointLabels>\n')
    else:
        controls = (f'  <Choices name="{LS_CHOICE}" toName="{LS_IMAGE}" '
                    f'choice="single" showInline="true">{tags("Choice")}\n'
                    '  </Choices>\n')
    return f'<View>\n{image}{controls}</View>\n'


def _percent(value: float, size: int) -> float:
    return 100.0 * value / size


def labelstudio_result(task: str, pred: dict, names: Sequence[str], width: int,
                       height: int, region_id: str) -> List[dict]:
    """One prediction in Label Studio's result schema (percent coordinates).
    Pose keypoints point at their person box through ``parentID``."""
    common = dict(to_name=LS_IMAGE, original_width=width, original_height=height,
                  image_rotation=0, score=pred['score'])
    if task == 'classification':
        return [dict(common, id=region_id, from_name=LS_CHOICE, type='choices',
                     value=dict(choices=[names[pred['label']]]))]
    x1, y1, x2, y2 = pred['bbox']
    box_name = POSE_CATEGORY if task == 'pose' else names[pred['label']]
    results = [dict(common, id=region_id, from_name=LS_BOX, type='rectanglelabels',
                    value=dict(x=_percent(x1, width), y=_percent(y1, height),
                               width=_percent(x2 - x1, width),
                               height=_percent(y2 - y1, height), rotation=0,
                               rectanglelabels=[box_name]))]
    for k, (point, score) in enumerate(zip(pred.get('keypoints', ()),
                                           pred.get('keypoint_scores', ()))):
        if point is None:
            continue
        x, y = point
        results.append(dict(
            common, id=f'{region_id}_k{k}', parentID=region_id,
            from_name=LS_KEYPOINT, type='keypointlabels', score=score,
            value=dict(x=_percent(x, width), y=_percent(y, height), width=0.5,
                       keypointlabels=[names[k]])))
    return results


def labelstudio_tasks(task: str, items: Sequence[dict], records: Sequence[list],
                      names: Sequence[str], query_id: str,
                      image_url: Optional[Sequence[str]] = None) -> List[dict]:
    """Label Studio tasks: ``data.image`` (``image_url`` per item, default the
    key), ``data.mmal_key``/``mmal_query`` that the import checks, and one
    prediction per task with ``model_version``, ``score`` (mean instance score)
    and ``result``."""
    tasks = []
    for i, (item, preds) in enumerate(zip(items, records)):
        result = [r for n, pred in enumerate(preds) for r in labelstudio_result(
            task, pred, names, item['width'], item['height'], f'r{i}_{n}')]
        score = sum(p['score'] for p in preds) / len(preds) if preds else 0.0
        data = dict(image=image_url[i] if image_url else item['key'],
                    mmal_key=item['key'], mmal_query=query_id,
                    mmal_rank=item['rank'], mmal_score=item.get('score'))
        tasks.append(dict(data=data, predictions=[dict(
            model_version=f'mmal {query_id}', score=score, result=result)]))
    return tasks


def write_query_files(query_dir: str, task: str, items: Sequence[dict],
                      predictions: Sequence, metainfo: dict, query_id: str,
                      score_thr: float = 0.3,
                      image_url: Optional[Sequence[str]] = None) -> dict:
    """Write ``query.csv``, ``coco_predictions.json``, ``labelstudio_tasks.json`` and
    ``labelstudio_config.xml`` into ``query_dir``; returns their paths."""
    if task not in TASKS:
        raise ValueError(f'task={task!r}; choose one of {TASKS}')
    if len(predictions) != len(items):
        raise ValueError(f'{len(predictions)} predictions for {len(items)} chosen '
                         'images: give one data sample (or list) per image')
    names = label_names(task, metainfo)
    records = [inside_image(prediction_records(task, p, score_thr), item)
               for p, item in zip(predictions, items)]
    paths = dict(csv=f'{query_dir}/query.csv',
                 coco=f'{query_dir}/coco_predictions.json',
                 labelstudio_tasks=f'{query_dir}/labelstudio_tasks.json',
                 labelstudio_config=f'{query_dir}/labelstudio_config.xml')
    write_query_csv(paths['csv'], items)
    dump_json_atomic(coco_predictions(task, items, records, names, query_id),
                     paths['coco'])
    dump_json_atomic(labelstudio_tasks(task, items, records, names, query_id,
                                       image_url), paths['labelstudio_tasks'])
    write_atomic(labelstudio_config(task, names), paths['labelstudio_config'])
    return paths
