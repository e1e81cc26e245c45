from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class LossPredictionDetachHook(Hook):
    """Detaches the loss prediction module's input features from ``detach_epoch`` on.

    From then on the ranking loss trains only the module and no longer moves the
    target model (the paper stops the gradient at epoch 120 of 200). Epochs count
    within the active learning cycle, so every cycle starts attached again. Works
    through ``MMDistributedDataParallel`` and other model wrappers.
    """

    priority = 'NORMAL'

    def before_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'detach_features'):
            return
        epoch = getattr(runner.train_loop, 'epoch_in_cycle', runner.epoch)
        detach = model.detach_epoch is not None and epoch >= model.detach_epoch
        if detach != model.detach_features:
            runner.logger.info(f'Loss prediction module input '
                               f'{"detached" if detach else "attached"} at epoch '
                               f'{epoch} of the cycle')
        model.detach_features = detach
