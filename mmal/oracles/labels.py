"""A person's labels for the open query, as any format parses them, and the
checks that every format's parser shares (the JSON's shape, the query it
belongs to, the queried images and their categories)."""
import reprlib
from dataclasses import dataclass, field
from typing import Dict, List

from .images import check_key
from .tasks import AnnotationTask, LabelImportError, get_task


@dataclass
class Labels:
    """Per annotated key, its objects (see :mod:`mmal.oracles.tasks`).

    Args:
        task (AnnotationTask): The query's task.
        names (list[str]): Category names, or keypoint names for pose.
        items (dict): Queried key -> query item (``key``, ``score``, ``width``,
            ``height``).
    """
    task: AnnotationTask
    names: List[str]
    items: Dict[str, dict]
    objects: Dict[str, List[dict]] = field(default_factory=dict)

    @classmethod
    def for_query(cls, awaiting: dict) -> 'Labels':
        """Empty labels for the open query (:func:`mmal.oracles.read_awaiting`)."""
        return cls(get_task(awaiting['task']), list(awaiting['names']),
                   {item['key']: item for item in awaiting['items']})

    def add_image(self, raw_key, where: str) -> str:
        """Start the objects of a queried image; returns its key."""
        try:
            key = check_key(raw_key, f'{where}: file name')
        except ValueError as error:
            raise LabelImportError(str(error)) from None
        if key not in self.items:
            raise LabelImportError(
                f'{where}: image {key!r} was not queried: only the images in '
                'query.csv of the awaited query can be imported')
        if key in self.objects:
            raise LabelImportError(f'{where}: image {key!r} is annotated twice; '
                                   'keep one annotation per image')
        self.objects[key] = []
        return key

    def check_category(self, name, where: str) -> str:
        known = self.task.categories(self.names)
        if name not in known:
            raise LabelImportError(f'{where}: unknown category name {name!r}; the '
                                   f'dataset has {known}')
        return name

    def check(self, clip: bool = False, where: Dict[str, str] = None) -> None:
        """Every image's objects through its task's checks; ``where`` names an
        image in messages (default: its key)."""
        where = where or {}
        for key in self.objects:
            self.objects[key] = self.task.check_image(
                self.objects[key], self.items[key], self.names,
                where.get(key, f'image {key!r}'), clip)


def check_query_id(found, awaiting: dict, source: str) -> None:
    """Labels exported for another work dir or another query are refused."""
    if found is None or found == awaiting['query_id']:
        return
    work_dir_id, _, name = str(found).partition('/')
    if work_dir_id != awaiting['work_dir_id']:
        raise LabelImportError(
            f'{source} was exported for another work dir (query {found}); this '
            f'work dir awaits {awaiting["query_id"]}: import it into its own work '
            'dir')
    awaited = awaiting['query_id'].partition('/')[2]
    raise LabelImportError(f'{source} belongs to {name}, but this work dir awaits '
                           f'{awaited}: export the current query')


def json_object(value, where: str, what: str, example: str) -> dict:
    """``value`` if it is a JSON object (missing: empty), else a clear error."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LabelImportError(f'{where}: {what} must be an object like {example}, '
                               f'got {reprlib.repr(value)}')
    return value


def json_objects(values, where: str, what: str, example: str) -> List[dict]:
    """``values`` if it is a list of JSON objects (missing: empty), else a clear
    error naming the first entry that is not one."""
    if values is None:
        return []
    if not isinstance(values, list):
        raise LabelImportError(f'{where}: {what} must be a list of objects like '
                               f'{example}, got {reprlib.repr(values)}')
    for n, value in enumerate(values):
        if not isinstance(value, dict):
            raise LabelImportError(f'{where}: entry {n} of {what} is '
                                   f'{reprlib.repr(value)}, not an object like '
                                   f'{example}')
    return values


def json_id(value, where: str, what: str):
    """An id that other entries refer to: a number or a string."""
    if isinstance(value, (list, dict)):
        raise LabelImportError(f'{where}: {what} must be a number or a string, '
                               f'got {reprlib.repr(value)}')
    return value
