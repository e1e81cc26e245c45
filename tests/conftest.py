import os.path as osp
import sys

HELPERS = osp.join(osp.dirname(osp.abspath(__file__)), 'helpers')
if HELPERS not in sys.path:
    sys.path.insert(0, HELPERS)
