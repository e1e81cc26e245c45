import os
import os.path as osp
import tempfile

from mmengine.fileio.handlers import JsonHandler


def dump_json_atomic(obj, path: str) -> None:
    """Write JSON so that ``path`` holds either the old or the new content, never a
    partial file, even if the process dies mid-write. numpy values are written
    as JSON numbers and lists (mmengine's JSON handler)."""
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix='.tmp-',
                                    suffix=osp.basename(path))
    try:
        with os.fdopen(fd, 'w') as f:
            JsonHandler().dump_to_fileobj(obj, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise
