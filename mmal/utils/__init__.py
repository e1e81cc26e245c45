from .al_curve import curve_metric, plot_al_curves
from .config_checks import check_data_roots, leaf_datasets
from .io import dump_json_atomic, write_atomic

__all__ = ['check_data_roots', 'curve_metric', 'dump_json_atomic', 'leaf_datasets',
           'plot_al_curves', 'write_atomic']
