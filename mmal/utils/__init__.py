from .al_curve import curve_metric, plot_al_curves
from .config_checks import check_data_roots, leaf_datasets
from .errors import InputError
from .io import dump_json_atomic, write_atomic
from .study import (curve_auc, history_curve, mean_std, paired_difference,
                    plot_study, study_markdown, study_rows, write_study_csv)

__all__ = ['InputError', 'check_data_roots', 'curve_auc', 'curve_metric',
           'dump_json_atomic', 'history_curve', 'leaf_datasets', 'mean_std',
           'paired_difference', 'plot_al_curves', 'plot_study', 'study_markdown',
           'study_rows', 'write_atomic', 'write_study_csv']
