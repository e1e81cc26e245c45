from mmal.registry import STRATEGIES
from .base import TopScoreStrategy


@STRATEGIES.register_module()
class EntropyStrategy(TopScoreStrategy):
    """Labels the candidates whose prediction has the highest entropy; how a task
    turns its outputs into one entropy per sample is its loss adapter's ``entropy``."""

    output = 'entropy'
