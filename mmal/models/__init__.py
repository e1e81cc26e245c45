from .adapters import BaseLossAdapter, build_loss_adapter
from .feature_taps import FeatureTaps
from .learning_loss_model import LearningLossModel
from .loss_prediction_head import LossPredictionHead
from .loss_prediction_loss import LossPredictionLoss

__all__ = ['BaseLossAdapter', 'FeatureTaps', 'LearningLossModel',
           'LossPredictionHead', 'LossPredictionLoss', 'build_loss_adapter']
