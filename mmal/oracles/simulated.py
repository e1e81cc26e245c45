from mmal.registry import ORACLES
from .base import BaseOracle


@ORACLES.register_module()
class SimulatedOracle(BaseOracle):
    """The pool is fully annotated (``train_dataloader.dataset``): the chosen
    samples are labeled at once, their annotations were there all along. Writes
    nothing. The default, and what the paper's experiments do."""
