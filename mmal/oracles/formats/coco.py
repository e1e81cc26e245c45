"""COCO files, both ways: the query's predictions for an annotator
(``coco_predictions.json``), a person's labels in COCO (read), and the labeled set
``labeled.json`` they are merged into. What a task's objects hold (boxes,
keypoints, one class) comes from :mod:`mmal.oracles.tasks`."""
import reprlib
from typing import Callable, Dict, List, Sequence, Tuple

from ..labels import (Labels, check_query_id, json_id, json_object,
                      json_objects)
from ..tasks import (POSE_CATEGORY, AnnotationTask, LabelImportError,
                     finite_numbers)


def categories(task: AnnotationTask, names: Sequence[str]) -> List[dict]:
    """COCO ``categories`` of a task (pose: one person with its keypoints)."""
    if task.keypoints:
        return [dict(id=1, name=POSE_CATEGORY, supercategory=POSE_CATEGORY,
                     keypoints=list(names), skeleton=[])]
    return [dict(id=i + 1, name=name) for i, name in enumerate(names)]


def _keypoint_fields(keypoints: Sequence) -> dict:
    """COCO's flat ``keypoints`` and ``num_keypoints`` from ``[x, y, v]`` (or
    ``[x, y]`` / None for a predicted point) per keypoint."""
    flat, count = [], 0
    for point in keypoints:
        if point is None:
            flat += [0, 0, 0]
            continue
        x, y, *v = point
        v = v[0] if v else 2
        flat += [x, y, v]
        count += v > 0
    return dict(keypoints=flat, num_keypoints=count)


def predictions(task: AnnotationTask, items: Sequence[dict],
                records: Sequence[list], names: Sequence[str],
                query_id: str) -> dict:
    """A COCO dataset of the chosen images with the prediction records as
    annotations, each with its ``score`` (classification: one annotation without
    ``bbox``)."""
    cats = categories(task, names)
    images, annotations = [], []
    for image_id, (item, preds) in enumerate(zip(items, records), 1):
        images.append(dict(id=image_id, file_name=item['key'], width=item['width'],
                           height=item['height']))
        for pred in preds:
            ann = dict(id=len(annotations) + 1, image_id=image_id,
                       score=pred['score'], iscrowd=0,
                       category_id=1 if task.keypoints else pred['label'] + 1)
            if task.boxes:
                x1, y1, x2, y2 = pred['bbox']
                ann.update(bbox=[x1, y1, x2 - x1, y2 - y1],
                           area=(x2 - x1) * (y2 - y1))
            if task.keypoints:
                ann.update(_keypoint_fields(pred['keypoints']),
                           keypoint_scores=pred['keypoint_scores'])
            annotations.append(ann)
    return dict(info=dict(description=f'mmal query {query_id}', mmal_query=query_id),
                images=images, annotations=annotations, categories=cats)


def parse(data, awaiting: dict, source: str) -> Tuple[Labels, Dict[str, str]]:
    """A person's labels in a COCO file, checked against the open query; also
    where each image is (for messages). Images listed without annotations are
    labeled "no objects"; images not listed stay awaited."""
    if not isinstance(data, dict) or not isinstance(data.get('images'), list):
        raise LabelImportError(f'{source} is not a COCO file (no "images" list)')
    info = json_object(data.get('info'), source, '"info"', '{"mmal_query": "..."}')
    check_query_id(info.get('mmal_query'), awaiting, source)
    labels = Labels.for_query(awaiting)
    task = labels.task
    cats = {}
    for cat in json_objects(data.get('categories'), source, '"categories"',
                            '{"id": 1, "name": "car"}'):
        where = f'{source}: category {reprlib.repr(cat.get("id"))}'
        cats[json_id(cat.get('id'), where, 'id')] = labels.check_category(
            cat.get('name'), where)
        if (task.keypoints and 'keypoints' in cat
                and cat['keypoints'] != labels.names):
            raise LabelImportError(
                f'{where}: keypoint names {reprlib.repr(cat["keypoints"])} differ '
                f"from the dataset's {labels.names} (same names, same order)")
    keys, where_of = {}, {}
    for image in json_objects(data['images'], source, '"images"',
                              '{"id": 1, "file_name": "a.jpg"}'):
        where = f'{source}: image id {reprlib.repr(image.get("id"))}'
        key = labels.add_image(image.get('file_name'), where)
        keys[json_id(image.get('id'), where, 'id')] = key
        where_of[key] = f'{where} ({key!r})'
    for ann in json_objects(data.get('annotations'), source, '"annotations"',
                            '{"id": 1, "image_id": 1, "category_id": 1}'):
        where = f'{source}: annotation id {reprlib.repr(ann.get("id"))}'
        json_id(ann.get('image_id'), where, 'image_id')
        json_id(ann.get('category_id'), where, 'category_id')
        if ann.get('image_id') not in keys:
            raise LabelImportError(f'{where}: image_id {ann.get("image_id")!r} is '
                                   'not in "images"')
        key = keys[ann['image_id']]
        where += f' (image {key!r})'
        if ann.get('category_id') not in cats:
            raise LabelImportError(f'{where}: category_id {ann.get("category_id")!r}'
                                   ' is not in "categories"')
        obj = dict(category=cats[ann['category_id']], bbox=None, keypoints=None,
                   where=where)
        # A person may come without a box: its keypoints then give one.
        if task.boxes and ('bbox' in ann or not task.keypoints):
            obj['bbox'] = finite_numbers(ann.get('bbox'), 4, where,
                                         'bbox [x, y, w, h]')
        if task.keypoints:
            flat = finite_numbers(ann.get('keypoints'), 3 * len(labels.names), where,
                                  f'keypoints ({len(labels.names)} x [x, y, v])')
            obj['keypoints'] = [flat[i:i + 3] for i in range(0, len(flat), 3)]
        labels.objects[key].append(obj)
    return labels, where_of


def annotation(task: AnnotationTask, obj: dict, image_id: int,
               category_id: int) -> dict:
    """A labeled object as a COCO annotation of the labeled set."""
    ann = dict(image_id=image_id, category_id=category_id)
    if not task.boxes:
        return ann
    bbox = obj['bbox']
    if task.keypoints:
        visible = [(x, y) for x, y, v in obj['keypoints'] if v > 0]
        if bbox is None:
            if not visible:
                raise LabelImportError(f'{obj["where"]}: a person needs a box or '
                                       'at least one labeled keypoint')
            xs, ys = zip(*visible)
            bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
        ann.update(_keypoint_fields(obj['keypoints']))
    return dict(ann, bbox=bbox, area=bbox[2] * bbox[3], iscrowd=0)


def merge(labeled: dict, labels: Labels, file_name: Callable[[str], str]):
    """The labeled set with ``labels`` merged in (a new dict) and the keys whose
    earlier labels were replaced; ``file_name(key)`` is where the labeled set
    lists a pool image."""
    task = labels.task
    labeled = dict(labeled, images=list(labeled['images']),
                   categories=list(labeled.get('categories') or []))
    category_ids = {cat['name']: cat['id'] for cat in labeled['categories']}
    for cat in categories(task, labels.names):
        if cat['name'] not in category_ids:
            category_ids[cat['name']] = max(category_ids.values(), default=0) + 1
            labeled['categories'].append(dict(cat, id=category_ids[cat['name']]))
    by_name = {image['file_name']: image for image in labeled['images']}
    replaced, new_ids = [], {}
    next_image = max((image['id'] for image in labeled['images']), default=0) + 1
    for key in labels.objects:
        item, name = labels.items[key], file_name(key)
        if name in by_name:
            replaced.append(key)
            new_ids[key] = by_name[name]['id']
        else:
            new_ids[key] = next_image
            next_image += 1
            labeled['images'].append(dict(id=new_ids[key], file_name=name,
                                          width=item['width'],
                                          height=item['height']))
    stale = {new_ids[key] for key in replaced}
    annotations = [ann for ann in labeled.get('annotations') or []
                   if ann['image_id'] not in stale]
    next_ann = max((ann['id'] for ann in labeled.get('annotations') or []),
                   default=0) + 1
    for key, objects in labels.objects.items():
        for obj in objects:
            ann = annotation(task, obj, new_ids[key], category_ids[obj['category']])
            annotations.append(dict(id=next_ann, **ann))
            next_ann += 1
    labeled['annotations'] = annotations
    return labeled, replaced
