from .al_curve import curve_metric, plot_al_curves
from .io import dump_json_atomic

__all__ = ['curve_metric', 'dump_json_atomic', 'plot_al_curves']
