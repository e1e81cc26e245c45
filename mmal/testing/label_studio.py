"""A real Label Studio server for tests, in its own virtual environment.

Label Studio 1.23 needs numpy>=2 and Django 5.2, which mmal's toolbox stack cannot
share, so it lives in ``$MMAL_CACHE/.venv-labelstudio`` (default
``~/.cache/mmal``), created on first use. :func:`label_studio_server` starts
``label-studio start`` on 127.0.0.1 with SQLite in a temporary data dir and always
stops its whole process group. :class:`AnnotatorClient` is mmal's own client
(:mod:`mmal.oracles.label_studio_client`) plus an annotator's requests.

``python -m mmal.testing.label_studio`` only creates the environment (timed).
"""
import contextlib
import os
import os.path as osp
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Iterator, Optional

from mmal.oracles.label_studio_client import LabelStudioClient, LabelStudioError

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


class AnnotatorClient(LabelStudioClient):
    """mmal's Label Studio client plus what an annotator does in the browser:
    annotate, skip, edit, and export the project."""

    def annotate(self, task: int, result: list, cancelled: bool = False) -> dict:
        return self.request('POST', f'/api/tasks/{task}/annotations',
                            dict(result=result, was_cancelled=cancelled))

    def edit_annotation(self, annotation: int, result: list) -> dict:
        return self.request('PATCH', f'/api/annotations/{annotation}',
                            dict(result=result, was_cancelled=False))

    def delete_project(self, project: int) -> None:
        self.request('DELETE', f'/api/projects/{project}')

    def export_json(self, project: int) -> list:
        return self.request('GET', f'/api/projects/{project}/export',
                            params=dict(exportType='JSON'))

    def next_task(self, project: int) -> dict:
        """The task Label Studio's queue serves an annotator next."""
        return self.request('GET', f'/api/projects/{project}/next')


@contextlib.contextmanager
def label_studio_server(document_root: Optional[str] = None,
                        start_timeout: float = 300) -> Iterator[AnnotatorClient]:
    """A running Label Studio on 127.0.0.1 (SQLite, temporary data dir), serving
    local files under ``document_root`` when given; stopped on exit whatever
    happens. ``client.timings`` holds install and start seconds; ``client.token``
    is the API key."""
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
    if document_root:
        env.update(LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED='true',
                   LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=document_root)
    log = open(osp.join(data_dir, 'server.log'), 'w')
    process = subprocess.Popen(
        [exe, 'start', '--internal-host', '127.0.0.1', '--port', str(port),
         '--no-browser'],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = AnnotatorClient(f'http://127.0.0.1:{port}', token)
    client.token, client.document_root = token, document_root
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f'label-studio exited ({process.returncode}):\n'
                                   + _tail(log.name))
            try:
                client.projects()
                break
            except LabelStudioError:
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


class Forwarder:
    """A TCP port on 127.0.0.1 that forwards to Label Studio: stopping it is the
    server stopping for a client that talks to ``url``, and starting it again
    (same port) the server coming back."""

    def __init__(self, target_url: str):
        host, port = target_url.rsplit('//', 1)[1].split(':')
        self.target = (host, int(port))
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self._sockets: list = []
        self._listener = None

    def start(self) -> 'Forwarder':
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(('127.0.0.1', self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener, ), daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the port and every open connection."""
        for sock in [self._listener] + self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        self._sockets = []

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            server = socket.create_connection(self.target)
            self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink),
                                 daemon=True).start()

    @staticmethod
    def _pump(source, sink) -> None:
        with contextlib.suppress(OSError):
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _tail(path: str, chars: int = 3000) -> str:
    with open(path, errors='replace') as f:
        return f.read()[-chars:]


if __name__ == '__main__':
    start = time.monotonic()
    print(ensure_venv(), f'{time.monotonic() - start:.0f} s', file=sys.stderr)
