"""What differs for mmpretrain's multi-label heads (``MultiLabelClsHead``,
``CSRAClsHead``, ...): every class is an independent sigmoid."""


def is_multi_label(head) -> bool:
    """Whether ``head`` scores every class with its own sigmoid."""
    # Imported here: ``import mmal`` loads this module without importing a toolbox.
    from mmpretrain.models.heads import MultiLabelClsHead
    return isinstance(head, MultiLabelClsHead)

