"""A thin client for the few documented Label Studio REST endpoints that
:class:`mmal.oracles.LabelStudioOracle` uses, on ``requests``.

Why not ``label-studio-sdk``: its 2.x releases need numpy>=2, and mmal's stack
(mmcv 2.1.0 built from source, mmdet 3.3, mmpose 1.3, opencv-python<4.12) pins
numpy<2. The endpoints used are few and stable: projects (list, read, create,
update), task import, the task list with its annotations, task deletion and
local-files storages.

Errors say what to do: :class:`LabelStudioUnreachable` (no answer at the URL),
:class:`LabelStudioAuthError` (HTTP 401/403, naming the environment variable of
the key), :class:`LabelStudioNotFound` (HTTP 404), :class:`LabelStudioError` for
the rest, each with Label Studio's own detail.
"""
import json
from typing import Iterator, List, Optional

import requests

from mmal.utils import InputError


class LabelStudioError(InputError):
    """Label Studio refused a request; the message says which and why."""


class LabelStudioUnreachable(LabelStudioError):
    """No Label Studio answers at the URL."""


class LabelStudioAuthError(LabelStudioError):
    """The API key was refused (HTTP 401 or 403)."""


class LabelStudioNotFound(LabelStudioError):
    """HTTP 404: the project or task does not exist (any more)."""


def _is_jwt(key: str) -> bool:
    # Personal access tokens are JWT refresh tokens; legacy tokens are hex.
    return key.count('.') == 2


class LabelStudioClient:
    """Label Studio's REST API at ``url``.

    Args:
        url (str): e.g. ``http://127.0.0.1:8080``.
        api_key (str): A personal access token (exchanged for an access token
            at ``/api/token/refresh``) or a legacy token (``Authorization:
            Token``).
        api_key_env (str): The environment variable the key came from, named
            in errors.
        timeout (float): Seconds per request.
    """

    def __init__(self, url: str, api_key: str,
                 api_key_env: str = 'LABEL_STUDIO_API_KEY', timeout: float = 30):
        self.url = url.rstrip('/')
        self.api_key = api_key
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.session = requests.Session()
        self._access: Optional[str] = None

    def _authorization(self) -> str:
        if not _is_jwt(self.api_key):
            return f'Token {self.api_key}'
        if self._access is None:
            reply = self._send('POST', '/api/token/refresh',
                               json=dict(refresh=self.api_key), auth=False)
            self._access = reply['access']
        return f'Bearer {self._access}'

    def request(self, method: str, path: str, json_body=None, params=None):
        """The JSON answer (None when empty) of one request."""
        try:
            return self._send(method, path, json=json_body, params=params)
        except LabelStudioAuthError:
            if self._access is None:
                raise
            self._access = None  # an expired access token: refresh once
            return self._send(method, path, json=json_body, params=params)

    def _send(self, method: str, path: str, json=None, params=None,
              auth: bool = True):
        headers = {'Authorization': self._authorization()} if auth else {}
        try:
            reply = self.session.request(method, self.url + path, json=json,
                                         params=params, headers=headers,
                                         timeout=self.timeout)
        except requests.RequestException as error:
            raise LabelStudioUnreachable(
                f'Label Studio does not answer at {self.url} ({type(error).__name__}'
                f'): start it there (label-studio start --internal-host 127.0.0.1 '
                '--port PORT) or set train_cfg.oracle.url to its address') from None
        if reply.status_code in (401, 403):
            raise LabelStudioAuthError(
                f'Label Studio at {self.url} refused the API key in ${self.api_key_env} '
                f'(HTTP {reply.status_code}: {_detail(reply)}); set {self.api_key_env} '
                'to your access token (Label Studio: Account & Settings, Personal '
                'Access Token or legacy token)')
        if reply.status_code == 404:
            raise LabelStudioNotFound(f'{method} {path}: {_detail(reply)}')
        if reply.status_code >= 400:
            raise LabelStudioError(f'Label Studio at {self.url} refused {method} '
                                   f'{path} (HTTP {reply.status_code}): '
                                   f'{_detail(reply)}')
        return reply.json() if reply.content else None

    # Projects.
    def projects(self) -> List[dict]:
        return list(self._pages('/api/projects', {}, 'results'))

    def project(self, project: int) -> dict:
        return self.request('GET', f'/api/projects/{project}')

    def create_project(self, title: str, label_config: str, **settings) -> dict:
        return self.request('POST', '/api/projects',
                            dict(settings, title=title, label_config=label_config))

    def update_project(self, project: int, **settings) -> dict:
        return self.request('PATCH', f'/api/projects/{project}', settings)

    # Tasks.
    def import_tasks(self, project: int, tasks: list) -> dict:
        return self.request('POST', f'/api/projects/{project}/import', tasks)

    def tasks(self, project: int, data_contains: Optional[dict] = None
              ) -> List[dict]:
        """Every task of ``project`` with its annotations and predictions;
        ``data_contains`` keeps tasks whose ``data`` fields contain the given
        strings (the Data Manager's filter)."""
        params = dict(project=project, fields='all')
        if data_contains:
            params['query'] = json.dumps(dict(filters=dict(
                conjunction='and',
                items=[dict(filter=f'filter:tasks:data.{name}', operator='contains',
                            type='String', value=value)
                       for name, value in data_contains.items()])))
        return list(self._pages('/api/tasks', params, 'tasks'))

    def delete_task(self, task: int) -> None:
        self.request('DELETE', f'/api/tasks/{task}')

    # Local files.
    def local_storages(self, project: int) -> List[dict]:
        return self.request('GET', '/api/storages/localfiles',
                            params=dict(project=project))

    def create_local_storage(self, project: int, path: str, title: str) -> dict:
        return self.request('POST', '/api/storages/localfiles',
                            dict(project=project, path=path, title=title,
                                 use_blob_urls=True))

    def _pages(self, path: str, params: dict, field: str,
               size: int = 100) -> Iterator[dict]:
        page = 1
        while True:
            try:
                reply = self.request('GET', path,
                                     params=dict(params, page=page, page_size=size))
            except LabelStudioNotFound:
                return  # Label Studio answers 404 for a page past the last
            batch = reply[field] if isinstance(reply, dict) else reply
            if not isinstance(batch, list):
                # A server stopping mid-answer can leave an empty reply.
                raise LabelStudioUnreachable(
                    f'Label Studio at {self.url} gave no list for GET {path} '
                    f'(got {str(reply)[:80]}): is it stopping?')
            yield from batch
            if len(batch) < size:
                return
            page += 1


def _detail(reply) -> str:
    try:
        body = reply.json()
    except ValueError:
        return reply.text[:300]
    if isinstance(body, dict):
        detail = body.get('detail') or ''
        errors = body.get('validation_errors')
        return f'{detail} {errors}' if errors else str(detail or body)[:500]
    return str(body)[:500]
