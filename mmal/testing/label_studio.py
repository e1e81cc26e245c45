"""A real Label Studio server for tests, in its own virtual environment.

Label Studio 1.23 needs numpy>=2 and Django 5.2, which mmal's toolbox stack cannot
share, so it lives in ``$MMAL_CACHE/.venv-labelstudio`` (default
``~/.cache/mmal``), created on first use. :func:`label_studio_server` starts
``label-studio start`` on 127.0.0.1 with SQLite in a temporary data dir and always
stops its whole process group. :class:`LabelStudioClient` talks REST with
``urllib`` from mmal's own interpreter.

``python -m mmal.testing.label_studio`` only creates the environment (timed).
"""
import contextlib
import json
import os
import os.path as osp
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Iterator, Optional

LABEL_STUDIO_SPEC = 'label-studio==1.23.*'
PYTHON = 'python3.11'


def cache_dir() -> str:
    return os.environ.get('MMAL_CACHE') or osp.expanduser('~/.cache/mmal')


def ensure_venv(venv: Optional[str] = None) -> str:
    """Create the Label Studio environment unless it is complete; return its
    ``label-studio`` executable. A half-built environment is rebuilt."""
    venv = venv or osp.join(cache_dir(), '.venv-labelstudio')
    exe = osp.join(venv, 'bin', 'label-studio')
    stamp = osp.join(venv, '.mmal-complete')
    if osp.isfile(stamp) and osp.isfile(exe):
        return exe
    python = shutil.which(PYTHON)
    if python is None:
        raise RuntimeError(f'{PYTHON} is needed to create {venv} for Label Studio')
    shutil.rmtree(venv, ignore_errors=True)
    os.makedirs(osp.dirname(venv), exist_ok=True)
    subprocess.run([python, '-m', 'venv', venv], check=True)
    pip = [osp.join(venv, 'bin', 'python'), '-m', 'pip', 'install', '-q']
    result = subprocess.run([*pip, LABEL_STUDIO_SPEC], capture_output=True,
                            text=True)
    if result.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise RuntimeError(f'pip install {LABEL_STUDIO_SPEC} into {venv} failed:\n'
                           f'{result.stderr[-3000:]}')
    open(stamp, 'w').close()
    return exe


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class LabelStudioClient:
    """Label Studio's REST API with a user token (``Authorization: Token ...``)."""

    def __init__(self, url: str, token: str):
        self.url = url.rstrip('/')
        self.token = token

    def request(self, method: str, path: str, body=None, timeout: float = 60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={'Authorization': f'Token {self.token}',
                     'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f'{method} {path}: HTTP {error.code}: '
                               f'{error.read().decode()[:2000]}') from None
        return json.loads(text) if text else None

    def create_project(self, title: str, label_config: str) -> int:
        return self.request('POST', '/api/projects',
                            dict(title=title, label_config=label_config))['id']

    def import_tasks(self, project: int, tasks: list) -> None:
        self.request('POST', f'/api/projects/{project}/import', tasks)

    def tasks(self, project: int) -> list:
        """Every task of ``project`` with its ``data``."""
        tasks, page = [], 1
        while True:
            reply = self.request(
                'GET', f'/api/tasks?project={project}&page={page}&page_size=100')
            batch = reply['tasks'] if isinstance(reply, dict) else reply
            tasks += batch
            if len(batch) < 100:
                return tasks
            page += 1

    def annotate(self, task: int, result: list) -> dict:
        return self.request('POST', f'/api/tasks/{task}/annotations',
                            dict(result=result, was_cancelled=False))

    def export_json(self, project: int) -> list:
        return self.request('GET', f'/api/projects/{project}/export?exportType=JSON')


@contextlib.contextmanager
def label_studio_server(start_timeout: float = 300) -> Iterator[LabelStudioClient]:
    """A running Label Studio on 127.0.0.1 (SQLite, temporary data dir); stopped
    on exit whatever happens. ``client.timings`` holds install and start seconds."""
    began = time.monotonic()
    exe = ensure_venv()
    installed = time.monotonic()
    port, token = free_port(), 'mmal-test-token-0123456789abcdef'
    data_dir = tempfile.mkdtemp(prefix='mmal-labelstudio-')
    env = dict(
        os.environ,
        LABEL_STUDIO_BASE_DATA_DIR=data_dir,
        LABEL_STUDIO_USERNAME='annotator@example.com',
        LABEL_STUDIO_PASSWORD='mmal-test-password',
        LABEL_STUDIO_USER_TOKEN=token,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN='true',
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK='true',
        DJANGO_DB='sqlite')
    log = open(osp.join(data_dir, 'server.log'), 'w')
    process = subprocess.Popen(
        [exe, 'start', '--internal-host', '127.0.0.1', '--port', str(port),
         '--no-browser'],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = LabelStudioClient(f'http://127.0.0.1:{port}', token)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f'label-studio exited ({process.returncode}):\n'
                                   + _tail(log.name))
            try:
                client.request('GET', '/api/projects', timeout=5)
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise TimeoutError(f'label-studio did not answer within '
                                       f'{start_timeout} s:\n' + _tail(log.name))
                time.sleep(1)
        client.timings = dict(install_s=installed - began,
                              start_s=time.monotonic() - installed)
        yield client
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def _tail(path: str, chars: int = 3000) -> str:
    with open(path, errors='replace') as f:
        return f.read()[-chars:]


if __name__ == '__main__':
    start = time.monotonic()
    print(ensure_venv(), f'{time.monotonic() - start:.0f} s', file=sys.stderr)
