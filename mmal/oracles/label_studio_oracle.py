"""Rounds that run themselves: mmal pushes each query to a Label Studio project
and pulls the finished annotations over its REST API."""
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional

from mmengine.dist import is_main_process
from mmengine.utils import ProgressBar

from mmal.registry import ORACLES
from mmal.utils import dump_json_atomic
from mmal.utils.dist import broadcast_from_rank0
from .formats import label_studio
from .human import HumanOracle, query_dir
from .labeled_set import (file_name, labeled_path, labels_dir, load_json,
                          merge_labels, missing_keys)
from .label_studio_client import (LabelStudioClient, LabelStudioError,
                                  LabelStudioNotFound, LabelStudioUnreachable)
from .tasks import LabelImportError, task_of_model

RESUME = 'resume with tools/al_train.py CONFIG --work-dir {work_dir} --resume'


@ORACLES.register_module()
class LabelStudioOracle(HumanOracle):
    """A person labels in Label Studio; mmal talks to it directly.

    Everything of :class:`HumanOracle` holds (the labeled set in
    ``labels/labeled.json``, the query files in ``queries/<query>/``). In
    addition:

    - The project is found by title (or id) or created with the labeling config
      of the task's classes or keypoints; a project whose labeling config does
      not fit is refused with what differs.
    - Each query is imported as tasks with the model's pre-annotations as a
      prediction of ``model_version`` ``mmal <run id>/<query>``, and the project's
      ``model_version`` (and ``sampling``) are set so that Label Studio's own
      queue serves them in mmal's order (see :mod:`mmal.oracles.formats.label_studio`).
      A cold-start query (no model yet) has no predictions: its tasks are
      imported in rank order and the sampling is set to sequential.
      Images are served by Label Studio's local files: a local storage rooted at
      the pool's image folder is created when the project has none. A query
      pushed again (a crash before it was recorded) adds no duplicate: tasks are
      matched by ``data.mmal_query`` and ``data.mmal_key``.
    - ``--resume`` (or the end of ``wait``) pulls the annotations and imports
      them with the checks of ``tools/al_import.py``. A task deleted in Label
      Studio puts its image back in the pool; a skipped task stays awaited. An
      annotation of an earlier query edited after it was imported replaces the
      imported labels at the next pull (the latest version wins).

    Args:
        url (str): Label Studio's address.
        project (str | int): The project's title, or its id.
        api_key_env (str): The environment variable that holds the API key.
        wait (bool): After a query, poll until every task is annotated, then go
            on with the next cycle (the run never stops for labels). False: stop
            after the push, like :class:`HumanOracle`.
        poll_s (float): Seconds between polls while waiting.
        sampling (str, optional): The project's sampling, set at each query; the
            default serves the predictions by ascending score (mmal's order).
            None leaves the project's.
        timeout_s (float): Seconds per request.
        **kwargs: :class:`HumanOracle`'s.
    """

    def __init__(self, url: str = 'http://127.0.0.1:8080', project='mmal',
                 api_key_env: str = 'LABEL_STUDIO_API_KEY', wait: bool = False,
                 poll_s: float = 10.0,
                 sampling: Optional[str] = 'Uncertainty sampling',
                 timeout_s: float = 30.0, **kwargs):
        super().__init__(**kwargs)
        self.url = url.rstrip('/')
        self.project_ref = project
        self.api_key_env = api_key_env
        self.wait_for_labels = wait
        self.poll_s = poll_s
        self.sampling = sampling
        self.timeout_s = timeout_s
        self._client: Optional[LabelStudioClient] = None
        self._project: Optional[dict] = None

    # Connection and project.
    def client(self) -> LabelStudioClient:
        if self._client is None:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise LabelStudioError(
                    f'Set {self.api_key_env} to your Label Studio access token '
                    '(Account & Settings in Label Studio), or name another '
                    'variable with train_cfg.oracle.api_key_env')
            self._client = LabelStudioClient(self.url, key, self.api_key_env,
                                             self.timeout_s)
        return self._client

    def pool_layout(self, labeled_dataset, key_field):
        layout = super().pool_layout(labeled_dataset, key_field)
        # The project is checked before any training: a wrong config or key
        # fails now, not after a cycle.
        task = task_of_model(self.runner.model)
        names = task.label_names(self._pool_metainfo)
        broadcast_from_rank0(lambda: self.find_project(task, names)['id'])
        return layout

    def find_project(self, task, names: List[str]) -> dict:
        """The project by id or title, created when there is none; refused when
        its labeling config does not fit ``task`` and ``names``."""
        client = self.client()
        config = label_studio.labeling_config(task, names)
        if isinstance(self.project_ref, int):
            project = client.project(self.project_ref)
        else:
            found = [p for p in client.projects() if p['title'] == self.project_ref]
            if len(found) > 1:
                raise LabelStudioError(
                    f'{len(found)} projects at {self.url} are titled '
                    f'{self.project_ref!r} (ids {[p["id"] for p in found]}): set '
                    'train_cfg.oracle.project to the id of the one to use')
            project = (client.project(found[0]['id']) if found else
                       client.create_project(self.project_ref, config))
        problems = label_studio.config_differences(project['label_config'], task,
                                                   names)
        if problems:
            raise LabelStudioError(
                f'Label Studio project {project["title"]!r} (id {project["id"]}) at '
                f'{self.url} does not fit this {task.name} run: '
                + '; '.join(problems) + '. Use another project title, or set its '
                f'labeling config to:\n{config}')
        self._project = project
        return project

    def _open_project(self, awaiting: dict) -> dict:
        """The project of an open query; it must still exist."""
        project = awaiting['oracle']['project']
        try:
            return self.client().project(project)
        except LabelStudioNotFound:
            raise LabelStudioError(
                f'Label Studio project {project} at {self.url} no longer exists, '
                f'and it held the {len(awaiting["queried"])} queried images of '
                f'this run. Restore it, or resume with --allow-partial to put '
                'them back in the pool (the next query creates the project '
                'anew)') from None

    # Queries.
    def deliver(self, query):
        handed_over = super().deliver(query)
        try:
            pushed = broadcast_from_rank0(lambda: self.push(query.name, handed_over))
        except LabelStudioUnreachable as error:
            raise LabelStudioUnreachable(
                f'{error} The query of {query.name} is written to '
                f'{query_dir(self.work_dir, query.name)} but not recorded; nothing '
                'is lost: once Label Studio answers, '
                + RESUME.format(work_dir=self.work_dir)
                + ' (the query is chosen and pushed again, without duplicates)'
            ) from None
        handed_over.update(pushed)
        return handed_over

    def push(self, name: str, handed_over: dict) -> dict:
        """Import the exported tasks of query ``name`` that the project does not
        hold yet and point the project's queue at them (rank 0)."""
        client = self.client()
        task = task_of_model(self.runner.model)
        project = self._project or self.find_project(task, handed_over['names'])
        self._ensure_storage(project['id'])
        with open(osp.join(query_dir(self.work_dir, name),
                           'labelstudio_tasks.json')) as f:
            tasks = json.load(f)
        query_id = handed_over['query_id']
        wanted = {t['data']['mmal_key'] for t in tasks}
        pushed = {}
        for existing in client.tasks(project['id'], dict(mmal_query=query_id)):
            key = existing['data'].get('mmal_key')
            if existing['data'].get('mmal_query') != query_id:
                continue
            if key in wanted and key not in pushed:
                pushed[key] = existing['id']
            elif not existing.get('annotations'):
                # Pushed for this query by a run that crashed before recording
                # it, but not chosen now: not part of the query.
                client.delete_task(existing['id'])
        missing = [t for t in tasks if t['data']['mmal_key'] not in pushed]
        if missing:
            client.import_tasks(project['id'], missing)
        version = tasks[0]['predictions'][0]['model_version'] if tasks and \
            tasks[0].get('predictions') else None
        settings = dict(model_version=version) if version else {}
        if self.sampling:
            # A cold start has no model, hence no predictions, and Label Studio
            # refuses a model_version without them: the tasks were imported in
            # rank order, so the sequential queue serves mmal's order.
            settings['sampling'] = self.sampling if version else 'Sequential sampling'
        if settings:
            client.update_project(project['id'], **settings)
        return dict(project=project['id'], project_title=project['title'],
                    url=self.url, model_version=version)

    def _ensure_storage(self, project: int) -> None:
        """A local-files storage rooted at the images' document root, so that
        Label Studio serves them without a copy."""
        if self.image_url_prefix != '/data/local-files/?d=':
            return  # images come from elsewhere (a web server)
        client, root = self.client(), osp.abspath(self.img_root)
        for storage in client.local_storages(project):
            storage_root = osp.abspath(storage.get('path') or '')
            if root == storage_root or root.startswith(storage_root + os.sep):
                return
        try:
            client.create_local_storage(project, root, 'mmal images')
        except LabelStudioError as error:
            raise LabelStudioError(
                f'Label Studio cannot serve the images in {root} ({error}). Start '
                'it with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and '
                f'LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={self._document_root()} '
                '(a folder that holds the images), or set '
                'train_cfg.oracle.image_url_prefix to a web server of them') from None

    def status(self, awaiting: dict) -> Dict[str, List[str]]:
        """The open query's keys by state in Label Studio: ``labeled``,
        ``skipped``, ``pending`` and ``deleted`` (rank 0)."""
        self._open_project(awaiting)
        tasks = self._query_tasks(awaiting)
        states = dict(labeled=[], skipped=[], pending=[], deleted=[])
        for item in awaiting['queried']:
            task = tasks.get(item['key'])
            if task is None:
                states['deleted'].append(item['key'])
                continue
            annotations = task.get('annotations') or []
            if any(not a.get('was_cancelled') for a in annotations):
                states['labeled'].append(item['key'])
            elif annotations:
                states['skipped'].append(item['key'])
            else:
                states['pending'].append(item['key'])
        return states

    def _query_tasks(self, awaiting: dict) -> Dict[str, dict]:
        query_id = awaiting['oracle']['query_id']
        tasks = self.client().tasks(awaiting['oracle']['project'],
                                    dict(mmal_query=query_id))
        return {t['data'].get('mmal_key'): t for t in tasks
                if t['data'].get('mmal_query') == query_id}

    def wait(self, awaiting, allow_partial=False):
        if not self.wait_for_labels:
            return False
        total = len(awaiting['queried'])
        progress = ProgressBar(total) if is_main_process() else None
        while True:
            states = broadcast_from_rank0(lambda: self._poll(awaiting))
            done = len(states['labeled']) + len(states['deleted'])
            if progress is not None and done > progress.completed:
                progress.update(done - progress.completed)
            waiting = states['pending'] + ([] if allow_partial else
                                           states['skipped'])
            if not waiting:
                if progress is not None:
                    print(flush=True)
                return True
            self.runner.logger.info(
                f'{len(states["labeled"])}/{total} labeled in Label Studio project '
                f'{awaiting["oracle"]["project"]} ({len(states["skipped"])} '
                f'skipped); next look in {self.poll_s:g} s')
            time.sleep(self.poll_s)

    def _poll(self, awaiting: dict) -> Dict[str, List[str]]:
        try:
            return self.status(awaiting)
        except LabelStudioUnreachable:
            raise LabelStudioUnreachable(
                f'Label Studio at {self.url} stopped answering while this run waited '
                f'for the labels of {awaiting["oracle"]["query_id"]}. Nothing is '
                'lost: start it again, then '
                + RESUME.format(work_dir=self.work_dir)) from None

    def collect(self, awaiting, allow_partial, logger):
        returned = broadcast_from_rank0(lambda: self.pull(awaiting, allow_partial))
        if returned:
            logger.warning(f'{len(returned)} queried images go back to the pool '
                           f'(deleted in Label Studio, or not labeled with '
                           f'--allow-partial): {returned[:5]}')
        return returned

    def pull(self, awaiting: dict, allow_partial: bool) -> List[str]:
        """Import the annotations of the open query (and newer versions of
        earlier ones) into the labeled set; returns the keys that go back to
        the pool (rank 0, under the loop's labels lock)."""
        try:
            project = self._open_project(awaiting)
        except LabelStudioError:
            if not allow_partial:
                raise
            return [item['key'] for item in awaiting['queried']]
        states = self.status(awaiting)
        open_tasks = self._query_tasks(awaiting)
        source = f'Label Studio project {project["title"]!r} (id {project["id"]})'
        view = dict(awaiting['oracle'], cycle=awaiting['cycle'],
                    items=awaiting['queried'])
        view['tasks'] = open_tasks
        # Everything is parsed and checked before anything is merged: a bad
        # annotation changes nothing.
        pulled = [(view, *label_studio.parse(list(open_tasks.values()), view,
                                             source))]
        pulled += self._edited(awaiting, project, source)
        for _, labels, where in pulled:
            labels.check(where=where)
        imported = self._imported()
        for one_view, labels, _ in pulled:
            merge_labels(self.work_dir, labels, one_view)
            for key in labels.objects:
                imported[key] = _annotation_stamp(one_view['tasks'][key])
        dump_json_atomic(imported, self._imported_path())
        missing = [key for key in missing_keys(self.work_dir)
                   if key not in states['deleted']]
        if missing and not allow_partial:
            raise LabelImportError(
                f'{len(missing)} of the {len(awaiting["queried"])} queried images '
                f'are not labeled yet in {source} (e.g. {missing[:3]}; '
                f'{len(states["skipped"])} skipped). Label them at '
                f'{self.url}/projects/{project["id"]}/data, then '
                + RESUME.format(work_dir=self.work_dir)
                + ', or resume with --allow-partial to train without them')
        return states['deleted'] + missing

    def _imported_path(self) -> str:
        return osp.join(labels_dir(self.work_dir), 'labelstudio_imported.json')

    def _imported(self) -> Dict[str, list]:
        """Key -> (task id, annotation id, updated_at) of each imported
        annotation."""
        path = self._imported_path()
        return load_json(path, 'record') if osp.isfile(path) else {}

    def _edited(self, awaiting: dict, project: dict, source: str) -> list:
        """Labels of earlier queries whose annotation changed after it was
        imported, each with its own query view (the latest version wins)."""
        imported = self._imported()
        open_id = awaiting['oracle']['query_id']
        wid = awaiting['oracle']['work_dir_id']
        labeled = load_json(labeled_path(self.work_dir), 'COCO file')
        sizes = {image['file_name']: image for image in labeled['images']}
        by_query: Dict[str, dict] = {}
        for task in self.client().tasks(project['id'], dict(mmal_query=wid)):
            query_id, key = task['data'].get('mmal_query'), task['data'].get('mmal_key')
            if (query_id == open_id or key not in imported
                    or not str(query_id).startswith(f'{wid}/')
                    or _annotation_stamp(task) in (None, imported[key])):
                continue
            image = sizes.get(file_name(key, awaiting['oracle']))
            if image is None:
                continue
            view = by_query.setdefault(query_id, dict(
                awaiting['oracle'], query_id=query_id, items=[], tasks={}))
            view['items'].append(dict(key=key, width=image['width'],
                                      height=image['height']))
            view['tasks'][key] = task
        return [(view, *label_studio.parse(list(view['tasks'].values()), view,
                                           source))
                for view in by_query.values()]

    def awaited_message(self, awaiting, config):
        oracle = awaiting['oracle']
        return (f'{len(awaiting["queried"])} images await labels in Label Studio '
                f'project {oracle["project_title"]!r}: label them at '
                f'{oracle["url"]}/projects/{oracle["project"]}/data, then:\n'
                f'  python tools/al_train.py {config} --work-dir {self.work_dir} '
                '--resume\n(or run with train_cfg.oracle.wait=True to go on by '
                'itself once they are labeled)')


def _annotation_stamp(task: dict) -> Optional[list]:
    """(task id, annotation id, updated_at) of a task's finished annotation."""
    done = [a for a in task.get('annotations') or [] if not a.get('was_cancelled')]
    if not done:
        return None
    return [task['id'], done[-1].get('id'), done[-1].get('updated_at')]

