"""One look for every figure of the book: colour maps, text sizes, alt text.

The conventions are stated once on the book's notation page:

- images with non-negative values (digits, pooled maps, ReLU outputs) are
  drawn as dark ink on white paper: :data:`IMAGE_CMAP`, 0 is white;
- signed arrays (kernels, learned filters, gradients, pre-activations) use the
  diverging :data:`SIGNED_CMAP` centred on zero (white), blue for negative and
  red for positive values, with :func:`signed_limits` giving the symmetric
  colour range;
- no text smaller than :data:`MIN_FONT_PT` points at the size the figure is
  shown (figures are never wider than :data:`MAX_WIDTH_IN` inches, so they are
  not scaled down in the content column).

Every function of :mod:`cnnlib.viz` that returns a figure describes it with
:func:`set_alt`; the notebook display reads it back with :func:`get_alt`, so
the alt text of a page's image is written next to the code that draws it and
cannot drift from it.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

IMAGE_CMAP = "gray_r"
SIGNED_CMAP = "RdBu_r"
MIN_FONT_PT = 9.0
# The book theme's content column is about 720 CSS px wide at 1280 px; at
# matplotlib's 100 dpi a figure up to 7.2 in wide is shown at its own size.
MAX_WIDTH_IN = 7.2

_ALT_ATTRIBUTE = "_cnnlib_alt"


def signed_limits(values: np.ndarray) -> tuple[float, float]:
    """Symmetric colour limits ``(-m, m)`` with ``m = max |values|`` (1 if all zero)."""
    m = float(np.max(np.abs(values))) if np.size(values) else 0.0
    m = m if m > 0 else 1.0
    return -m, m


def set_alt(fig: Figure, text: str) -> Figure:
    """Attach alt text (what the figure shows, for a reader who cannot see it).

    Returns the figure, so drawing functions can end with
    ``return set_alt(fig, "...")``.
    """
    text = " ".join(str(text).split())
    if len(text) < 10:
        raise ValueError(f"alt text must describe the figure; got {text!r}")
    setattr(fig, _ALT_ATTRIBUTE, text)
    return fig


def get_alt(fig: Figure) -> str | None:
    """The alt text set by :func:`set_alt`, or None."""
    return getattr(fig, _ALT_ATTRIBUTE, None)
