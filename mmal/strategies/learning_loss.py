from mmal.registry import STRATEGIES
from .base import BaseStrategy, top_scores


def check_loss_prediction(model, strategy: str) -> None:
    if not callable(getattr(model, 'predict_loss', None)):
        raise TypeError(
            f'{strategy} needs a loss prediction module, but the model is a plain '
            f'{type(model).__name__}. Wrap it: model = dict(type='
            "'LearningLossModel', target=<your model>, taps=[...], "
            'head=dict(in_channels=[...])), or choose another strategy.')


@STRATEGIES.register_module()
class LearningLossStrategy(BaseStrategy):
    """Labels the candidates with the highest predicted loss (Yoo & Kweon, 2019)."""

    def check_model(self, model) -> None:
        check_loss_prediction(model, type(self).__name__)

    def select(self, candidates, num, rng):
        return top_scores(candidates.keys, candidates.predicted_loss(), num)
