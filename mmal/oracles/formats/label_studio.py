"""Label Studio's formats, both ways: the labeling config and the tasks with the
model's pre-annotations (written), and its annotations, from a JSON export or its
REST API (read). What a task's objects hold comes from
:mod:`mmal.oracles.tasks`; coordinates are percent of the displayed image.

Prediction scores follow mmal's query order: Label Studio serves the
predictions of the project's ``model_version`` by ascending ``score``, so a
task's prediction score is ``rank / len(query)`` (rank 1 first, scores in
(0, 1]). The model's own confidence stays on each region (``score``).
"""
import os
import os.path as osp
import reprlib
import urllib.parse
from typing import Dict, List, Optional, Sequence, Tuple
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

from ..labels import (Labels, check_query_id, json_id, json_object,
                      json_objects)
from ..tasks import (POSE_CATEGORY, AnnotationTask, LabelImportError,
                     finite_numbers)

# Control names, shared by the config, the tasks and the import.
IMAGE, BOX, KEYPOINT, CHOICE = 'image', 'label', 'keypoint', 'choice'
# The controls of each kind of object, and the label tag each holds.
_CONTROLS = dict(box=('RectangleLabels', BOX, 'Label'),
                 keypoint=('KeyPointLabels', KEYPOINT, 'Label'),
                 choice=('Choices', CHOICE, 'Choice'))


def _controls(task: AnnotationTask, names: Sequence[str]) -> List[tuple]:
    """(kind, label values) of each control the task's labeling config has."""
    if task.one_per_image:
        return [('choice', list(names))]
    controls = [('box', task.categories(names))]
    if task.keypoints:
        controls.append(('keypoint', list(names)))
    return controls


def labeling_config(task: AnnotationTask, names: Sequence[str]) -> str:
    """The labeling config that :func:`tasks` and :func:`parse` fit."""
    text = f'<View>\n  <Image name="{IMAGE}" value="$image" zoom="true"/>\n'
    for kind, values in _controls(task, names):
        tag, name, label = _CONTROLS[kind]
        extra = (' choice="single" showInline="true"' if kind == 'choice' else '')
        labels = ''.join(f'\n    <{label} value={quoteattr(value)}/>'
                         for value in values)
        text += (f'  <{tag} name="{name}" toName="{IMAGE}"{extra}>{labels}\n'
                 f'  </{tag}>\n')
    return text + '</View>\n'


def config_differences(config: str, task: AnnotationTask,
                       names: Sequence[str]) -> List[str]:
    """How a project's labeling config differs from what mmal's tasks need
    (empty: it fits): missing or extra controls and label values."""
    try:
        root = ElementTree.fromstring(config)
    except ElementTree.ParseError as error:
        return [f'the labeling config is not XML ({error})']
    problems = []
    image = root.find(f".//Image[@name='{IMAGE}']")
    if image is None or image.get('value') != '$image':
        problems.append(f'no <Image name="{IMAGE}" value="$image"/>')
    wanted = {_CONTROLS[kind][1]: (kind, values)
              for kind, values in _controls(task, names)}
    for name, (kind, values) in wanted.items():
        tag, _, label = _CONTROLS[kind]
        control = root.find(f".//{tag}[@name='{name}']")
        if control is None:
            problems.append(f'no <{tag} name="{name}"> (the {task.name} task '
                            'needs it)')
            continue
        found = [element.get('value') for element in control.iter(label)]
        if found != list(values):
            problems.append(f'<{tag} name="{name}"> has the labels {found}, mmal '
                            f'needs {list(values)} (same names, same order)')
    for tag, name, _ in _CONTROLS.values():
        if name not in wanted and root.find(f".//{tag}[@name='{name}']") is not None:
            problems.append(f'<{tag} name="{name}"> is not part of a {task.name} '
                            'task')
    return problems


def _percent(value: float, size: int) -> float:
    return 100.0 * value / size


def result(task: AnnotationTask, record: dict, names: Sequence[str], width: int,
           height: int, region_id: str) -> List[dict]:
    """One prediction record as regions of Label Studio's result schema. Pose
    keypoints point at their person box through ``parentID``."""
    common = dict(to_name=IMAGE, original_width=width, original_height=height,
                  image_rotation=0, score=record['score'])
    if task.one_per_image:
        return [dict(common, id=region_id, from_name=CHOICE, type='choices',
                     value=dict(choices=[names[record['label']]]))]
    x1, y1, x2, y2 = record['bbox']
    box_name = POSE_CATEGORY if task.keypoints else names[record['label']]
    regions = [dict(common, id=region_id, from_name=BOX, type='rectanglelabels',
                    value=dict(x=_percent(x1, width), y=_percent(y1, height),
                               width=_percent(x2 - x1, width),
                               height=_percent(y2 - y1, height), rotation=0,
                               rectanglelabels=[box_name]))]
    for k, (point, score) in enumerate(zip(record.get('keypoints', ()),
                                           record.get('keypoint_scores', ()))):
        if point is None:
            continue
        x, y = point
        regions.append(dict(
            common, id=f'{region_id}_k{k}', parentID=region_id,
            from_name=KEYPOINT, type='keypointlabels', score=score,
            value=dict(x=_percent(x, width), y=_percent(y, height), width=0.5,
                       keypointlabels=[names[k]])))
    return regions


def prediction_score(rank: int, count: int) -> float:
    """The prediction score of the task at ``rank`` (1 = first) of ``count``:
    Label Studio's ascending-score order is mmal's query order."""
    return rank / count


def tasks(task: AnnotationTask, items: Sequence[dict],
          records: Optional[Sequence[list]], names: Sequence[str], query_id: str,
          model_version: str, image_url: Optional[Sequence[str]] = None
          ) -> List[dict]:
    """Label Studio tasks: ``data.image`` (``image_url`` per item, default the
    key), ``data.mmal_key``/``mmal_query`` that the import checks,
    ``mmal_rank``/``mmal_score`` of the query, and one prediction per task with
    ``model_version``, the score of :func:`prediction_score` and the records as
    its result. ``records`` None (no model yet): tasks without predictions."""
    exported = []
    for i, item in enumerate(items):
        data = dict(image=image_url[i] if image_url else item['key'],
                    mmal_key=item['key'], mmal_query=query_id,
                    mmal_rank=item['rank'], mmal_score=item.get('score'))
        one = dict(data=data)
        if records is not None:
            regions = [r for n, record in enumerate(records[i])
                       for r in result(task, record, names, item['width'],
                                       item['height'], f'r{i}_{n}')]
            one['predictions'] = [dict(
                model_version=model_version, result=regions,
                score=prediction_score(item['rank'], len(items)))]
        exported.append(one)
    return exported


def task_key(data: dict, awaiting: dict):
    """The key of a task's image, from its ``data``: ``mmal_key``, else (tasks
    made outside mmal) the file its local-files URL names."""
    if 'mmal_key' in data:
        return data['mmal_key']
    image, prefix = data.get('image'), awaiting.get('image_url_prefix')
    if isinstance(image, str) and prefix and image.startswith(prefix):
        path = osp.join(awaiting['document_root'],
                        urllib.parse.unquote(image[len(prefix):]))
        return osp.relpath(path, awaiting['img_root']).replace(os.sep, '/')
    return image


def finished_annotation(task: dict, where: str) -> Optional[dict]:
    """A task's annotation that counts (not cancelled, i.e. not skipped); None
    while there is none. Two are refused: which one is meant is unclear."""
    annotations = json_objects(task.get('annotations'), where, '"annotations"',
                               '{"result": [...], "was_cancelled": false}')
    done = [a for a in annotations if not a.get('was_cancelled')]
    if len(done) > 1:
        raise LabelImportError(f'{where} is annotated twice ({len(done)} '
                               'annotations); keep one annotation per task')
    return done[0] if done else None


def parse(data, awaiting: dict, source: str) -> Tuple[Labels, Dict[str, str]]:
    """The annotations of a list of Label Studio tasks (its JSON export, or
    tasks read over its API), checked against the open query; also where each
    image is (for messages). Tasks without a finished annotation stay awaited; an
    annotation with an empty result is labeled "no objects"."""
    if not isinstance(data, list):
        raise LabelImportError(f'{source} is not a Label Studio JSON export (a list '
                               'of tasks); export with exportType=JSON')
    labels, where_of = Labels.for_query(awaiting), {}
    for n, task in enumerate(data):
        where = f'{source}: task {task.get("id", n) if isinstance(task, dict) else n}'
        if not isinstance(task, dict):
            raise LabelImportError(f'{where} is not a task object')
        task_data = task.get('data')
        if not isinstance(task_data, dict):
            raise LabelImportError(
                f'{where} has no "data" object (got {reprlib.repr(task_data)}): is '
                'this a Label Studio JSON export (exportType=JSON)? Export it again')
        check_query_id(task_data.get('mmal_query'), awaiting, source)
        annotation = finished_annotation(task, where)
        if annotation is None:
            continue  # not annotated yet: the image stays awaited
        key = labels.add_image(task_key(task_data, awaiting), where)
        where += f' (image {key!r})'
        where_of[key] = where
        regions = json_objects(annotation.get('result'), where, '"result"',
                               '{"type": "rectanglelabels", "value": {...}}')
        labels.objects[key] = _objects(regions, labels, labels.items[key], where)
    return labels, where_of


def _point(value: dict, width: int, height: int, where: str) -> List[float]:
    x, y = finite_numbers([value.get('x'), value.get('y')], 2, where, 'x, y')
    return [x * width / 100, y * height / 100]


def _objects(regions: list, labels: Labels, item: dict, where: str) -> List[dict]:
    task, names = labels.task, labels.names
    width, height = item['width'], item['height']
    boxes, keypoints, objects = {}, [], []
    for n, region in enumerate(regions):
        rwhere = f'{where}, result {reprlib.repr(region.get("id", n))}'
        json_id(region.get('id'), rwhere, 'id')
        json_id(region.get('parentID'), rwhere, 'parentID')
        kind = region.get('type')
        value = json_object(region.get('value'), rwhere, '"value"',
                            '{"x": 10, "y": 20, "width": 30, "height": 40, '
                            '"rectanglelabels": ["car"]}')
        size = (region.get('original_width'), region.get('original_height'))
        if size != (None, None) and size != (width, height):
            raise LabelImportError(
                f'{rwhere}: annotated on a {size[0]}x{size[1]} image, but the '
                f'queried image is {width}x{height}: was the file replaced?')
        if kind == 'rectanglelabels' and task.boxes:
            if value.get('rotation'):
                raise LabelImportError(f'{rwhere}: rotated boxes are not supported;'
                                       ' set the rotation to 0')
            chosen = value.get('rectanglelabels') or []
            if not isinstance(chosen, list) or len(chosen) != 1:
                raise LabelImportError(f'{rwhere}: a box needs exactly one label, '
                                       f'got {chosen}')
            x, y = _point(value, width, height, rwhere)
            w, h = _point(dict(x=value.get('width'), y=value.get('height')),
                          width, height, rwhere)
            obj = dict(category=labels.check_category(chosen[0], rwhere),
                       bbox=[x, y, w, h], keypoints=None, where=rwhere)
            boxes[region.get('id')] = obj
            objects.append(obj)
        elif kind == 'keypointlabels' and task.keypoints:
            keypoints.append((region, value, rwhere))
        elif kind == 'choices' and task.one_per_image:
            chosen = value.get('choices') or []
            if not isinstance(chosen, list) or len(chosen) != 1 or objects:
                raise LabelImportError(f'{rwhere}: an image needs exactly one '
                                       f'choice, got {chosen}')
            objects.append(dict(category=labels.check_category(chosen[0], rwhere),
                                bbox=None, keypoints=None, where=rwhere))
        else:
            raise LabelImportError(
                f'{rwhere}: unexpected result type {kind!r} for a {task.name} '
                'query; use the labelstudio_config.xml of the query')
    if task.one_per_image and not objects:
        raise LabelImportError(f'{where}: the image has no choice; choose its '
                               'category or skip the task')
    for region, value, rwhere in keypoints:
        parent = region.get('parentID')
        if parent is None and len(boxes) == 1:
            parent = next(iter(boxes))
        if parent not in boxes:
            raise LabelImportError(
                f'{rwhere}: cannot tell which person this keypoint belongs to; '
                'select the person box before placing its keypoints')
        chosen = value.get('keypointlabels') or []
        if (not isinstance(chosen, list) or len(chosen) != 1
                or chosen[0] not in names):
            raise LabelImportError(f'{rwhere}: unknown keypoint {chosen}; the '
                                   f'dataset has {names}')
        person = boxes[parent]
        if person['keypoints'] is None:
            person['keypoints'] = [[0.0, 0.0, 0] for _ in names]
        k = names.index(chosen[0])
        if person['keypoints'][k][2]:
            raise LabelImportError(f'{rwhere}: keypoint {chosen[0]!r} is placed '
                                   'twice for the same person')
        person['keypoints'][k] = [*_point(value, width, height, rwhere), 2]
    if task.keypoints:
        for obj in objects:
            if obj['keypoints'] is None:
                obj['keypoints'] = [[0.0, 0.0, 0] for _ in names]
    return objects
