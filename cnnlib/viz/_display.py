"""How notebooks show figures: twice the pixels, a small file, and the figure's own alt text.

:func:`setup_notebook` replaces the inline backend's PNG formatter for
matplotlib figures with :func:`figure_png`, which

- renders at twice the figure's dpi and tells the front end to show it at
  half that size (``width``/``height`` output metadata, as IPython's
  "retina" format does), so figures are crisp on high-density screens;
- reduces the PNG to a 256-colour palette (figures are flat colours and
  anti-aliased text; this makes the 2x file about as small as a 1x one);
- writes the alt text from :func:`cnnlib.viz._style.get_alt` into the PNG's
  ``Description`` text chunk and into the output metadata (``alt``).

Only the ``image/png`` entry of an output changes: its ``text/plain``
(``<Figure size 720x272 with 2 Axes>``, which nbval compares) stays as it
was. The book's Sphinx extension (``book/_ext/book_html.py``) reads the
``Description`` chunk of every output image and puts it on the page's
``<img alt="...">``; the alt text travels inside the image, so it cannot be
separated from it.

``import cnnlib.viz`` calls :func:`setup_notebook` when it runs inside an
IPython kernel (and does nothing elsewhere), so the chapters need no extra
line; call it again after ``%matplotlib inline`` or a change of figure
format, or ``setup_notebook(False)`` to restore IPython's default PNG output.
"""

from __future__ import annotations

import io
from binascii import b2a_base64

from matplotlib.figure import Figure

from ._style import get_alt

__all__ = ["setup_notebook", "figure_png", "compact_png", "png_description"]

PIXEL_DENSITY = 2
_ALT_KEY = "Description"  # the PNG text keyword for "description of the image"


def compact_png(data: bytes, description: str | None = None) -> bytes:
    """`data` re-encoded as a 256-colour palette PNG, with `description` in a ``Description`` chunk."""
    from PIL import Image, PngImagePlugin

    image = Image.open(io.BytesIO(data))
    if image.mode in ("RGBA", "LA") and image.getextrema()[-1][0] < 255:
        rgb = image.convert("RGBA")  # real transparency: keep it, palette with alpha
        palette = rgb.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    else:
        palette = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    info = PngImagePlugin.PngInfo()
    if description:
        info.add_itxt(_ALT_KEY, description)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True, pnginfo=info)
    return out.getvalue()


def png_description(data: bytes) -> str | None:
    """The ``Description`` text of a PNG (what :func:`compact_png` wrote), or None."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    text = getattr(image, "text", {}) or {}
    return text.get(_ALT_KEY)


def figure_png(fig: Figure, **print_kwargs) -> tuple[str, dict] | None:
    """``(base64 PNG, metadata)`` for a figure, the way :func:`setup_notebook` shows it.

    The PNG has :data:`PIXEL_DENSITY` times the figure's pixels; ``metadata``
    holds the display ``width`` and ``height`` (CSS pixels) and the ``alt``
    text when the figure has one. Returns None for a figure with nothing
    drawn (as IPython's formatter does).
    """
    from IPython.core.pylabtools import print_figure

    kwargs = {"bbox_inches": "tight", **print_kwargs}
    raw = print_figure(fig, fmt="png", base64=False, dpi=fig.dpi * PIXEL_DENSITY, **kwargs)
    if raw is None:
        return None
    alt = get_alt(fig)
    data = compact_png(raw, alt)
    from PIL import Image

    width, height = Image.open(io.BytesIO(data)).size
    metadata: dict = {"width": width // PIXEL_DENSITY, "height": height // PIXEL_DENSITY}
    if alt:
        metadata["alt"] = alt
    return b2a_base64(data, newline=False).decode("ascii"), metadata


def _ensure_formatter(shell, enabled: bool) -> None:
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        current = formatter.lookup_by_type(Figure)
    except KeyError:
        current = None
    if enabled and current is not figure_png:
        formatter.for_type(Figure, figure_png)
    elif not enabled and current is figure_png:
        from IPython.core.pylabtools import select_figure_formats

        select_figure_formats(shell, {"png"})


def setup_notebook(enabled: bool = True) -> bool:
    """Show matplotlib figures through :func:`figure_png` in this IPython session.

    Idempotent. Returns True when an IPython shell was found (and set up),
    False outside IPython, where it does nothing.

    The inline backend installs its own PNG formatter when it is first
    loaded (at the first figure, or on ``%matplotlib inline``), so this also
    loads it now and keeps a ``pre_execute`` hook that puts
    :func:`figure_png` back before each cell if anything replaced it.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    try:  # load the inline backend now, so that its one-time setup runs before ours
        import matplotlib_inline.backend_inline  # noqa: F401
    except ImportError:
        pass
    _ensure_formatter(shell, enabled)
    hook = getattr(setup_notebook, "_hook", None)
    if hook is not None:
        try:
            shell.events.unregister("pre_execute", hook)
        except ValueError:
            pass
        setup_notebook._hook = None
    if enabled:
        def hook() -> None:
            _ensure_formatter(shell, True)

        shell.events.register("pre_execute", hook)
        setup_notebook._hook = hook
    return True
