"""The file formats a person's tools read and write, one module each, both ways:
:mod:`.coco`, :mod:`.label_studio`, :mod:`.query_csv`."""
from . import coco, label_studio, query_csv

__all__ = ['coco', 'label_studio', 'query_csv']
