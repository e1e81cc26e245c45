"""Import a person's labels into the work dir's labeled set.

The labeled set is ``<work_dir>/labels/labeled.json``, a COCO file that starts as
a copy of the user's annotation file (:func:`init_labels`; the user's file is never
written) and grows with every import. Each version is also kept as
``labels/versions/labeled_<n>.json`` (0 = the user's file).

:func:`import_labels` reads a COCO json or a Label Studio JSON export, checks all
of it against the open query (``queries/awaiting.json``) and only then writes: any
problem raises :class:`LabelImportError` naming the image or annotation, and
nothing changes. Images of the query that the file does not mark as annotated stay
awaited (:func:`missing_keys`); importing an image again replaces its labels.
"""
import json
import math
import os
import os.path as osp
import urllib.parse
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from mmal.utils import dump_json_atomic
from .export import POSE_CATEGORY
from .human import read_awaiting
from .images import check_key

FORMATS = ('auto', 'coco', 'labelstudio')
# Float round-off of Label Studio's percent coordinates: overflows up to this many
# pixels are clamped silently; larger ones are errors (or clipped with --clip).
_EPS = 0.01


class LabelImportError(ValueError):
    """Bad labels: the message names the image or annotation and the fix."""


def labels_dir(work_dir: str) -> str:
    return osp.join(work_dir, 'labels')


def labeled_path(work_dir: str) -> str:
    return osp.join(labels_dir(work_dir), 'labeled.json')


def _versions(work_dir: str) -> List[str]:
    folder = osp.join(labels_dir(work_dir), 'versions')
    if not osp.isdir(folder):
        return []
    return sorted(osp.join(folder, name) for name in os.listdir(folder)
                  if name.startswith('labeled_') and name.endswith('.json'))


def _save_version(labeled: dict, work_dir: str) -> str:
    """A new version, kept, then ``labeled.json`` (both atomic)."""
    path = osp.join(labels_dir(work_dir), 'versions',
                    f'labeled_{len(_versions(work_dir)):04d}.json')
    dump_json_atomic(labeled, path)
    dump_json_atomic(labeled, labeled_path(work_dir))
    return path


def load_json(path: str, what: str = 'file'):
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except FileNotFoundError:
        raise LabelImportError(f'{path} does not exist') from None
    except (ValueError, UnicodeDecodeError) as error:
        raise LabelImportError(
            f'{path} is not a complete JSON {what} ({error}); was it truncated? '
            'Export it again') from None


def init_labels(work_dir: str, ann_file: str) -> str:
    """Start the labeled set from the user's COCO annotation file unless the work
    dir already has one; returns ``labels/labeled.json``."""
    if osp.isfile(labeled_path(work_dir)):
        return labeled_path(work_dir)
    labeled = load_json(ann_file, 'COCO file')
    if not isinstance(labeled, dict) or not isinstance(labeled.get('images'), list):
        raise LabelImportError(f'{ann_file} is not a COCO file (no "images" list)')
    labeled.setdefault('annotations', [])
    labeled.setdefault('categories', [])
    _save_version(labeled, work_dir)
    return labeled_path(work_dir)


def _file_name(key: str, awaiting: dict) -> str:
    """Where labeled.json lists a pool image: relative to the labeled set's root."""
    path = osp.join(awaiting['img_root'], key)
    return osp.relpath(path, awaiting['label_root']).replace(os.sep, '/')


def missing_keys(work_dir: str) -> List[str]:
    """Keys of the open query that have no labels yet, in query order."""
    awaiting = read_awaiting(work_dir)
    labeled = load_json(labeled_path(work_dir), 'COCO file')
    present = {image['file_name'] for image in labeled['images']}
    return [item['key'] for item in awaiting['items']
            if _file_name(item['key'], awaiting) not in present]


@dataclass
class ImportReport:
    imported: List[str]
    empty: List[str]
    replaced: List[str]
    missing: List[str]
    version: str

    def summary(self) -> str:
        replaced = (f', {len(self.replaced)} replacing earlier labels'
                    if self.replaced else '')
        text = (f'imported labels of {len(self.imported)} images '
                f'({len(self.empty)} with no objects{replaced}) -> {self.version}')
        if self.missing:
            shown = ', '.join(self.missing[:10])
            more = ' ...' if len(self.missing) > 10 else ''
            return (f'{text}\n{len(self.missing)} queried images still await labels: '
                    f'{shown}{more}')
        return f'{text}\nall queried images are labeled: resume the run'


@dataclass
class _Labels:
    """Parsed labels: per annotated key, objects as ``dict(category, bbox=[x, y, w,
    h] or None, keypoints=[[x, y, v], ...] or None, where)`` in pixels."""
    task: str
    names: List[str]
    items: Dict[str, dict]
    objects: Dict[str, List[dict]] = field(default_factory=dict)

    def add_image(self, raw_key, where: str) -> str:
        try:
            key = check_key(raw_key, f'{where}: file name')
        except ValueError as error:
            raise LabelImportError(str(error)) from None
        if key not in self.items:
            raise LabelImportError(
                f'{where}: image {key!r} was not queried: only the images in '
                'query.csv of the awaited cycle can be imported')
        if key in self.objects:
            raise LabelImportError(f'{where}: image {key!r} is annotated twice; '
                                   'keep one annotation per image')
        self.objects[key] = []
        return key

    def check_category(self, name, where: str) -> str:
        known = [POSE_CATEGORY] if self.task == 'pose' else self.names
        if name not in known:
            raise LabelImportError(f'{where}: unknown category name {name!r}; the '
                                   f'dataset has {known}')
        return name


def _check_query_id(found, awaiting: dict, source: str) -> None:
    if found is None or found == awaiting['query_id']:
        return
    work_dir_id, _, cycle = str(found).partition('/')
    if work_dir_id != awaiting['work_dir_id']:
        raise LabelImportError(
            f'{source} was exported for another work dir (query {found}); this '
            f'work dir awaits {awaiting["query_id"]}: import it into its own work '
            'dir')
    raise LabelImportError(f'{source} belongs to {cycle}, but this work dir awaits '
                           f'cycle_{awaiting["cycle"]}: export the current query')


def _numbers(values, count: Optional[int], where: str, what: str) -> List[float]:
    ok = (isinstance(values, list) and (count is None or len(values) == count)
          and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                  and math.isfinite(v) for v in values))
    if not ok:
        raise LabelImportError(f'{where}: {what} must be '
                               f'{count or "a list of"} finite numbers, got {values!r}')
    return [float(v) for v in values]


def parse_coco(data, awaiting: dict, source: str) -> _Labels:
    if not isinstance(data, dict) or not isinstance(data.get('images'), list):
        raise LabelImportError(f'{source} is not a COCO file (no "images" list)')
    _check_query_id((data.get('info') or {}).get('mmal_query'), awaiting, source)
    labels = _Labels(awaiting['task'], awaiting['names'],
                     {item['key']: item for item in awaiting['items']})
    categories = {}
    for cat in data.get('categories') or []:
        where = f'{source}: category {cat.get("id")!r}'
        categories[cat.get('id')] = labels.check_category(cat.get('name'), where)
        if (labels.task == 'pose' and 'keypoints' in cat
                and list(cat['keypoints']) != labels.names):
            raise LabelImportError(
                f'{where}: keypoint names {cat["keypoints"]} differ from the '
                f"dataset's {labels.names} (same names, same order)")
    keys = {}
    for image in data['images']:
        where = f'{source}: image id {image.get("id")!r}'
        keys[image.get('id')] = labels.add_image(image.get('file_name'), where)
    for ann in data.get('annotations') or []:
        where = f'{source}: annotation id {ann.get("id")!r}'
        if ann.get('image_id') not in keys:
            raise LabelImportError(f'{where}: image_id {ann.get("image_id")!r} is '
                                   'not in "images"')
        key = keys[ann['image_id']]
        where += f' (image {key!r})'
        if ann.get('category_id') not in categories:
            raise LabelImportError(f'{where}: category_id {ann.get("category_id")!r}'
                                   ' is not in "categories"')
        obj = dict(category=categories[ann['category_id']], bbox=None,
                   keypoints=None, where=where)
        if labels.task != 'classification':
            if 'bbox' in ann or labels.task == 'detection':
                obj['bbox'] = _numbers(ann.get('bbox'), 4, where, 'bbox [x, y, w, h]')
        if labels.task == 'pose':
            flat = _numbers(ann.get('keypoints'), 3 * len(labels.names), where,
                            f'keypoints ({len(labels.names)} x [x, y, v])')
            obj['keypoints'] = [flat[i:i + 3] for i in range(0, len(flat), 3)]
        labels.objects[key].append(obj)
    return labels


def _ls_key(task: dict, awaiting: dict, where: str):
    data = task.get('data')
    if not isinstance(data, dict):
        raise LabelImportError(f'{where} has no "data": is this a Label Studio JSON '
                               'export (exportType=JSON)?')
    if 'mmal_key' in data:
        return data['mmal_key']
    image, prefix = data.get('image'), awaiting.get('image_url_prefix')
    if isinstance(image, str) and prefix and image.startswith(prefix):
        # Tasks made outside mmal: the image URL names the file.
        path = osp.join(awaiting['document_root'],
                        urllib.parse.unquote(image[len(prefix):]))
        return osp.relpath(path, awaiting['img_root']).replace(os.sep, '/')
    return image


def _ls_point(value: dict, width: int, height: int, where: str) -> List[float]:
    x, y = _numbers([value.get('x'), value.get('y')], 2, where, 'x, y')
    return [x * width / 100, y * height / 100]


def _ls_objects(result: list, labels: _Labels, item: dict, where: str) -> List[dict]:
    width, height = item['width'], item['height']
    boxes, keypoints, objects = {}, [], []
    for n, region in enumerate(result):
        rwhere = f'{where}, result {region.get("id", n)!r}'
        kind, value = region.get('type'), region.get('value') or {}
        size = (region.get('original_width'), region.get('original_height'))
        if size != (None, None) and size != (width, height):
            raise LabelImportError(
                f'{rwhere}: annotated on a {size[0]}x{size[1]} image, but the '
                f'queried image is {width}x{height}: was the file replaced?')
        if kind == 'rectanglelabels':
            if value.get('rotation'):
                raise LabelImportError(f'{rwhere}: rotated boxes are not supported;'
                                       ' set the rotation to 0')
            names = value.get('rectanglelabels') or []
            if len(names) != 1:
                raise LabelImportError(f'{rwhere}: a box needs exactly one label, '
                                       f'got {names}')
            x, y = _ls_point(value, width, height, rwhere)
            w, h = _ls_point(dict(x=value.get('width'), y=value.get('height')),
                             width, height, rwhere)
            obj = dict(category=labels.check_category(names[0], rwhere),
                       bbox=[x, y, w, h], keypoints=None, where=rwhere)
            boxes[region.get('id')] = obj
            objects.append(obj)
        elif kind == 'keypointlabels' and labels.task == 'pose':
            keypoints.append((region, rwhere))
        elif kind == 'choices' and labels.task == 'classification':
            names = value.get('choices') or []
            if len(names) != 1 or objects:
                raise LabelImportError(f'{rwhere}: an image needs exactly one '
                                       f'choice, got {names}')
            objects.append(dict(category=labels.check_category(names[0], rwhere),
                                bbox=None, keypoints=None, where=rwhere))
        else:
            raise LabelImportError(
                f'{rwhere}: unexpected result type {kind!r} for a {labels.task} '
                'query; use the labelstudio_config.xml of the query')
    if labels.task == 'classification' and not objects:
        raise LabelImportError(f'{where}: the image has no choice; choose its '
                               'category or skip the task')
    for region, rwhere in keypoints:
        parent = region.get('parentID')
        if parent is None and len(boxes) == 1:
            parent = next(iter(boxes))
        if parent not in boxes:
            raise LabelImportError(
                f'{rwhere}: cannot tell which person this keypoint belongs to; '
                'select the person box before placing its keypoints')
        names = (region.get('value') or {}).get('keypointlabels') or []
        if len(names) != 1 or names[0] not in labels.names:
            raise LabelImportError(f'{rwhere}: unknown keypoint {names}; the '
                                   f'dataset has {labels.names}')
        person = boxes[parent]
        if person['keypoints'] is None:
            person['keypoints'] = [[0.0, 0.0, 0] for _ in labels.names]
        k = labels.names.index(names[0])
        if person['keypoints'][k][2]:
            raise LabelImportError(f'{rwhere}: keypoint {names[0]!r} is placed '
                                   'twice for the same person')
        person['keypoints'][k] = [*_ls_point(region['value'], item['width'],
                                             item['height'], rwhere), 2]
    if labels.task == 'pose':
        for obj in objects:
            if obj['keypoints'] is None:
                obj['keypoints'] = [[0.0, 0.0, 0] for _ in labels.names]
    return objects


def parse_labelstudio(data, awaiting: dict, source: str) -> _Labels:
    if not isinstance(data, list):
        raise LabelImportError(f'{source} is not a Label Studio JSON export (a list '
                               'of tasks); export with exportType=JSON')
    labels = _Labels(awaiting['task'], awaiting['names'],
                     {item['key']: item for item in awaiting['items']})
    for n, task in enumerate(data):
        where = f'{source}: task {task.get("id", n) if isinstance(task, dict) else n}'
        if not isinstance(task, dict):
            raise LabelImportError(f'{where} is not a task object')
        _check_query_id((task.get('data') or {}).get('mmal_query'), awaiting,
                        source)
        done = [a for a in task.get('annotations') or []
                if not a.get('was_cancelled')]
        if not done:
            continue  # not annotated yet: the image stays awaited
        key = labels.add_image(_ls_key(task, awaiting, where), where)
        if len(done) > 1:
            raise LabelImportError(
                f'{where}: image {key!r} is annotated twice ({len(done)} '
                'annotations); keep one annotation per task')
        labels.objects[key] = _ls_objects(done[0].get('result') or [], labels,
                                          labels.items[key],
                                          f'{where} (image {key!r})')
    return labels


def _check_geometry(labels: _Labels, clip: bool) -> None:
    """Boxes inside their image with positive size, visible keypoints inside it.
    ``clip`` clips boxes to the image instead of refusing them."""
    for key, objects in labels.objects.items():
        width, height = labels.items[key]['width'], labels.items[key]['height']
        for obj in objects:
            if obj['bbox'] is not None:
                x, y, w, h = obj['bbox']
                if w <= 0 or h <= 0:
                    raise LabelImportError(
                        f'{obj["where"]}: box [x={x:g}, y={y:g}, w={w:g}, h={h:g}] '
                        'has non-positive size; redraw or delete it')
                x1, y1, x2, y2 = x, y, x + w, y + h
                outside = (x1 < -_EPS or y1 < -_EPS or x2 > width + _EPS
                           or y2 > height + _EPS)
                if outside and not clip:
                    raise LabelImportError(
                        f'{obj["where"]}: box [x1={x1:g}, y1={y1:g}, x2={x2:g}, '
                        f'y2={y2:g}] lies outside the {width}x{height} image; fix '
                        'it, or import with --clip to clip boxes to the image')
                x1, y1 = max(x1, 0.0), max(y1, 0.0)
                x2, y2 = min(x2, float(width)), min(y2, float(height))
                if x2 <= x1 or y2 <= y1:
                    raise LabelImportError(f'{obj["where"]}: box lies entirely '
                                           f'outside the {width}x{height} image')
                obj['bbox'] = [x1, y1, x2 - x1, y2 - y1]
            for k, (kx, ky, v) in enumerate(obj['keypoints'] or ()):
                if v > 0 and not (-_EPS <= kx <= width + _EPS
                                  and -_EPS <= ky <= height + _EPS):
                    raise LabelImportError(
                        f'{obj["where"]}: keypoint {labels.names[k]!r} at '
                        f'({kx:g}, {ky:g}) lies beyond the {width}x{height} image;'
                        ' move it inside or mark it not labeled (v=0)')


def _coco_annotation(obj: dict, task: str, image_id: int, category_id: int
                     ) -> dict:
    ann = dict(image_id=image_id, category_id=category_id)
    if task == 'classification':
        return ann
    bbox = obj['bbox']
    if task == 'pose':
        visible = [(x, y) for x, y, v in obj['keypoints'] if v > 0]
        if bbox is None:
            if not visible:
                raise LabelImportError(f'{obj["where"]}: a person needs a box or '
                                       'at least one labeled keypoint')
            xs, ys = zip(*visible)
            bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
        ann['keypoints'] = [v for point in obj['keypoints'] for v in point]
        ann['num_keypoints'] = len(visible)
    return dict(ann, bbox=bbox, area=bbox[2] * bbox[3], iscrowd=0)


def _merge(labeled: dict, labels: _Labels, awaiting: dict):
    """The labeled set with ``labels`` merged in (a new dict) and the keys whose
    earlier labels were replaced."""
    labeled = dict(labeled, images=list(labeled['images']),
                   categories=list(labeled.get('categories') or []))
    category_ids = {cat['name']: cat['id'] for cat in labeled['categories']}
    needed = [POSE_CATEGORY] if labels.task == 'pose' else labels.names
    for name in needed:
        if name not in category_ids:
            category_ids[name] = max(category_ids.values(), default=0) + 1
            cat = dict(id=category_ids[name], name=name)
            if labels.task == 'pose':
                cat.update(supercategory=POSE_CATEGORY, keypoints=labels.names,
                           skeleton=[])
            labeled['categories'].append(cat)
    by_name = {image['file_name']: image for image in labeled['images']}
    replaced, new_ids = [], {}
    next_image = max((image['id'] for image in labeled['images']), default=0) + 1
    for key in labels.objects:
        item, file_name = labels.items[key], _file_name(key, awaiting)
        if file_name in by_name:
            replaced.append(key)
            new_ids[key] = by_name[file_name]['id']
        else:
            new_ids[key] = next_image
            next_image += 1
            labeled['images'].append(dict(id=new_ids[key], file_name=file_name,
                                          width=item['width'],
                                          height=item['height']))
    stale = {new_ids[key] for key in replaced}
    annotations = [ann for ann in labeled.get('annotations') or []
                   if ann['image_id'] not in stale]
    next_ann = max((ann['id'] for ann in labeled.get('annotations') or []),
                   default=0) + 1
    for key, objects in labels.objects.items():
        for obj in objects:
            ann = _coco_annotation(obj, labels.task, new_ids[key],
                                   category_ids[obj['category']])
            annotations.append(dict(id=next_ann, **ann))
            next_ann += 1
    labeled['annotations'] = annotations
    return labeled, replaced


def read_labels(path: str, awaiting: dict, fmt: str = 'auto') -> _Labels:
    """Parse a COCO json or Label Studio JSON export against the open query."""
    if fmt not in FORMATS:
        raise LabelImportError(f'--format {fmt}: choose one of {FORMATS}')
    data = load_json(path)
    if fmt == 'auto':
        fmt = 'labelstudio' if isinstance(data, list) else 'coco'
    parse = parse_coco if fmt == 'coco' else parse_labelstudio
    return parse(data, awaiting, osp.basename(path))


def import_labels(work_dir: str, path: str, fmt: str = 'auto',
                  clip: bool = False) -> ImportReport:
    """Check ``path`` against the open query and merge it into
    ``labels/labeled.json`` (a new version); on any problem raise
    :class:`LabelImportError` before writing anything."""
    try:
        awaiting = read_awaiting(work_dir)
    except (FileNotFoundError, ValueError) as error:
        raise LabelImportError(str(error)) from None
    if not osp.isfile(labeled_path(work_dir)):
        raise LabelImportError(f'{labeled_path(work_dir)} does not exist; the '
                               'active learning run creates it')
    labels = read_labels(path, awaiting, fmt)
    _check_geometry(labels, clip)
    labeled = load_json(labeled_path(work_dir), 'COCO file')
    merged, replaced = _merge(labeled, labels, awaiting)
    version = _save_version(merged, work_dir)
    missing = missing_keys(work_dir)
    return ImportReport(imported=list(labels.objects),
                        empty=[k for k, objs in labels.objects.items() if not objs],
                        replaced=replaced, missing=missing, version=version)
