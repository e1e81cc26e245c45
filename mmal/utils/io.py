import os
import os.path as osp
import uuid
from typing import Optional, Union

from mmengine.fileio.handlers import JsonHandler


def write_atomic(data: Union[str, bytes], path: str) -> None:
    """Write ``path`` so that it holds either the old or the new content, never a
    partial file, even if the process dies mid-write. The file gets the mode of
    an ordinary new file (0666 less the umask), so that e.g. an annotation tool
    running as another user can read the query export."""
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # Not tempfile.mkstemp: its files are 0600 whatever the umask.
    tmp_path = osp.join(directory,
                        f'.tmp-{uuid.uuid4().hex[:12]}-{osp.basename(path)}')
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise


def dump_json_atomic(obj, path: str, indent: Optional[int] = 2) -> None:
    """JSON to ``path`` through :func:`write_atomic`; numpy values are written as
    JSON numbers and lists (mmengine's JSON handler). ``indent=None`` writes one
    compact line, about 5x faster for large files (Python's C encoder)."""
    separators = (',', ':') if indent is None else None
    write_atomic(JsonHandler().dump_to_str(obj, indent=indent,
                                           separators=separators), path)
