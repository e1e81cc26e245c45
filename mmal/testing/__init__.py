"""Test helpers shared by mmal's tests (as ``mmdet.testing``): toolbox datasets
written in their real on-disk formats, derived configs and ``tools/al_train.py``
runs. Never imported by ``import mmal``; the format modules import their toolbox.
"""
