from mmal.registry import STRATEGIES
from .base import TopScoreStrategy


@STRATEGIES.register_module()
class LearningLossStrategy(TopScoreStrategy):
    """Labels the candidates with the highest predicted loss (Yoo & Kweon, 2019)."""

    output = 'predicted_loss'

    def check_model(self, model) -> None:
        if not callable(getattr(model, 'predict_loss', None)):
            raise TypeError(
                f'LearningLossStrategy needs a loss prediction module, but the model '
                f'is a plain {type(model).__name__}. Wrap it: model = dict('
                "type='LearningLossModel', target=<your model>, taps=[...], "
                'head=dict(in_channels=[...])), or choose another strategy.')
