from mmal.registry import ORACLES
from .base import BaseOracle


@ORACLES.register_module()
class SimulatedOracle(BaseOracle):
    """The pool is fully annotated: the chosen samples are labeled at once (their
    annotations were there all along). ``label`` returns the chosen keys, in
    order, and writes nothing. The default, and mmal's behaviour before oracles."""

    def label(self, work_dir, cycle, chosen, predictions=None, metainfo=None,
              **kwargs):
        return [item['key'] for item in chosen]
