from mmal.registry import STRATEGIES
from .base import BaseStrategy, top_scores


@STRATEGIES.register_module()
class BALDStrategy(BaseStrategy):
    """Labels the candidates with the highest mutual information between the
    prediction and the model weights (BALD, Houlsby et al. 2011; Gal et al. 2017),
    estimated with ``passes`` Monte Carlo dropout passes: the entropy of the mean
    posterior minus the mean entropy of the passes.

    The model's own dropout layers are kept on while scoring; a model without
    any gets dropout on its head's input at scoring time only (the adapter's,
    p=0.5 for classification). The masks come from one seed drawn from the
    query's random stream and each sample's dataset index, so the scores repeat
    for a seed and do not depend on the batch size or the number of GPUs.

    Args:
        passes (int): Stochastic forward passes T. Defaults to 20 (baal's).
    """

    def __init__(self, passes: int = 20):
        if passes < 2:
            raise ValueError(f'passes must be at least 2 (MC dropout compares '
                             f'passes), got {passes}')
        self.passes = passes

    def select(self, candidates, num, rng):
        seed = int(rng.integers(2**31))
        return top_scores(candidates.keys,
                          candidates.mutual_information(self.passes, seed), num)
