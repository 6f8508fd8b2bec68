"""Figures for the book, drawn with matplotlib.

One module per topic; each function returns a matplotlib Figure (or an
animation) and never calls ``plt.show()`` itself, so the same code serves
the notebooks, the tests and a learner's own experiments.
"""

# Re-exports, one line per topic module (each helper adds its own line).
from .animation import animation_html  # noqa: E402,F401  (offline HTML for animations)
from .sliding import sliding_window_animation, sliding_window_figure  # noqa: E402,F401
from .filters import classic_kernels, feature_map_grid, filter_gallery  # noqa: E402,F401
from .arithmetic import output_size_diagram, output_size_gallery, parameter_comparison  # noqa: E402,F401
from .unroll import overlap_counts, plot_im2col, plot_im2col_memory, plot_overlap_counts, unrolled_nbytes  # noqa: E402,F401
from .pooling import plot_pool_backward, plot_pooling, plot_shift_robustness  # noqa: E402,F401
from .backprop import plot_conv1d_connections, plot_full_correlation  # noqa: E402,F401
from .training import plot_feature_maps, plot_filter_grid, plot_learning_curves, plot_misclassified  # noqa: E402,F401
from .architecture import plot_architecture, plot_inception_module  # noqa: E402,F401
from .volumes import conv_volumes_animation, plot_conv_volumes  # noqa: E402,F401
from .transposed import plot_transposed_conv  # noqa: E402,F401
from .receptive_field import plot_receptive_field  # noqa: E402,F401
from ._display import setup_notebook  # noqa: E402,F401
# For figures a chapter or a learner draws with matplotlib directly.
from ._style import get_alt, set_alt  # noqa: E402,F401

# Inside an IPython kernel, show figures at 2x pixel density with their alt text
# (cnnlib.viz._display explains what changes); outside IPython this does nothing.
setup_notebook()
