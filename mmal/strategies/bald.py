from mmal.registry import STRATEGIES
from .base import BaseStrategy, top_scores


@STRATEGIES.register_module()
class BALDStrategy(BaseStrategy):
    """Labels the candidates with the highest mutual information between the
    prediction and the model weights (BALD, Houlsby et al. 2011; Gal et al. 2017),
    estimated with ``passes`` Monte Carlo dropout passes: the entropy of the mean
    posterior minus the mean entropy of the passes.

    The model's own dropout layers are kept on while scoring; a model without
    any gets dropout with p=``head_dropout`` on its head's input at scoring time
    only, as baal's ``patch_module`` would add it. The masks come from one seed
    drawn from the query's random stream and each sample's dataset index, so the
    scores repeat for a seed and do not depend on the batch size or the number of
    GPUs.

    Args:
        passes (int): Stochastic forward passes T. Defaults to 20 (baal's).
        head_dropout (float): Dropout on the head's input for a model without
            dropout layers. Defaults to 0.5 (baal's).
    """

    def __init__(self, passes: int = 20, head_dropout: float = 0.5):
        if passes < 2:
            raise ValueError(f'passes must be at least 2 (MC dropout compares '
                             f'passes), got {passes}')
        if not 0 < head_dropout < 1:
            raise ValueError(f'head_dropout must be in (0, 1), got {head_dropout}')
        self.passes, self.head_dropout = passes, head_dropout

    def select(self, candidates, num, rng):
        seed = int(rng.integers(2**31))
        return top_scores(candidates.keys,
                          candidates.mutual_information(self.passes, seed,
                                                        self.head_dropout), num)
