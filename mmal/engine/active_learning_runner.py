from mmengine.registry import RUNNERS
from mmengine.runner import Runner


@RUNNERS.register_module()
class ActiveLearningRunner(Runner):
    """mmengine's ``Runner``, except that the work dir's copy of the config is
    written once :class:`ActiveLearningLoop` has accepted the run (its state,
    budgets and labels checked), not as the runner is built: a refused run
    leaves the copy of the run that made ``al_state.json``.
    ``tools/al_train.py`` uses it (``runner_type='ActiveLearningRunner'`` in a
    config does too)."""

    def __init__(self, *args, **kwargs):
        self._config_accepted = False
        super().__init__(*args, **kwargs)
        self._config_accepted = True

    def dump_config(self) -> None:
        # The loop calls it again once the run is accepted.
        if self._config_accepted:
            super().dump_config()
