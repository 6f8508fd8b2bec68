"""Animations as self-contained HTML that works offline, on any screen width.

``FuncAnimation.to_jshtml()`` embeds every frame as a PNG and ships a small
player, but it also loads Font Awesome from a CDN for its button icons and
names its elements with a random id. Offline, the stylesheet request fails
(a console error) and the buttons are blank; a random id changes the page
on every build. :func:`animation_html` fixes both: inline SVG icons and a
stable id chosen by the caller. It also renders the frames at twice the
figure's dpi (crisp on high-density screens; each frame is re-encoded as a
palette PNG so the page stays small), scales the frame down to the width of
the column, lets the buttons wrap onto a second line on a narrow phone
screen, and gives the player an ``aria-label`` and the frame an ``alt``.
"""

from __future__ import annotations

import base64
import html as html_lib
import re

import matplotlib as mpl
from matplotlib.animation import Animation

from ._display import PIXEL_DENSITY, compact_png
from ._style import get_alt

__all__ = ["animation_html"]

_BAR_LEFT = '<rect x="2" y="2" width="2" height="12"/>'
_BAR_RIGHT = '<rect x="12" y="2" width="2" height="12"/>'
_ICONS = {
    "fa fa-minus": '<rect x="2" y="7" width="12" height="2"/>',
    "fa fa-plus": '<rect x="2" y="7" width="12" height="2"/><rect x="7" y="2" width="2" height="12"/>',
    "fa fa-play": '<polygon points="4,2 14,8 4,14"/>',
    "fa fa-play fa-flip-horizontal": '<polygon points="12,2 2,8 12,14"/>',
    "fa fa-pause": '<rect x="3" y="2" width="3.5" height="12"/><rect x="9.5" y="2" width="3.5" height="12"/>',
    "fa fa-step-forward": '<polygon points="3,2 11,8 3,14"/>' + _BAR_RIGHT,
    "fa fa-step-backward": _BAR_LEFT + '<polygon points="13,2 5,8 13,14"/>',
    "fa fa-fast-forward": '<polygon points="1,2 6.5,8 1,14"/><polygon points="6.5,2 12,8 6.5,14"/>' + _BAR_RIGHT,
    "fa fa-fast-backward": _BAR_LEFT + '<polygon points="9.5,2 4,8 9.5,14"/><polygon points="15,2 9.5,8 15,14"/>',
}


def _svg(shapes: str) -> str:
    return f'<svg width="14" height="14" viewBox="0 0 16 16" fill="currentColor" aria-hidden="true">{shapes}</svg>'


# Scoped to the player (its id), so a page with several players, or a notebook
# front end with its own styles, is not affected. The frame keeps its aspect
# ratio when the column is narrower than the figure.
_RESPONSIVE_CSS = """<style>
#{wrapper} {{ max-width: 100%; }}
#{wrapper} .animation {{ display: block; max-width: 100%; }}
#{wrapper} .animation img {{ width: {width}px; max-width: 100%; height: auto; }}
#{wrapper} input[type=range].anim-slider {{ width: 100%; max-width: 374px; box-sizing: border-box; }}
#{wrapper} .anim-buttons {{ display: flex; flex-wrap: wrap; justify-content: center; gap: 4px; }}
#{wrapper} .anim-buttons button {{ width: 36px; height: 30px; display: inline-flex; align-items: center;
  justify-content: center; }}
#{wrapper} .anim-state {{ display: flex; flex-wrap: wrap; justify-content: center; align-items: center; gap: 2px; }}
</style>"""
_FRAME = re.compile(r'(frames\[\d+\] = "data:image/png;base64,)([^"]+)(")')


def _compact_frame(match: re.Match) -> str:
    data = base64.b64decode(re.sub(r"[\\\s]", "", match.group(2)))  # to_jshtml breaks lines with "\\<newline>"
    return match.group(1) + base64.b64encode(compact_png(data)).decode("ascii") + match.group(3)


def animation_html(anim: Animation, name: str, alt: str | None = None, default_mode: str = "once") -> str:
    """HTML for a matplotlib animation, with no network access and a fixed id.

    Parameters
    ----------
    anim : matplotlib.animation.Animation
    name : str
        Identifier for the player's elements (letters, digits, underscores);
        must be unique within a page.
    alt : str, optional
        Alternative text of the frame image and label of the player. Default:
        the figure's alt text (:func:`cnnlib.viz._style.get_alt`), else the
        number of frames.
    default_mode : {"once", "loop", "reflect"}
        What the player does at the last frame.

    Returns
    -------
    str
        A ``<div>`` with the frames, the player script and its controls.
    """
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ValueError(f"name must contain only letters, digits and underscores; got {name!r}")
    if default_mode not in ("once", "loop", "reflect"):
        raise ValueError(f"default_mode must be 'once', 'loop' or 'reflect'; got {default_mode!r}")
    fig = getattr(anim, "_fig", None)
    dpi = fig.dpi if fig is not None else mpl.rcParams["figure.dpi"]
    with mpl.rc_context({"savefig.dpi": dpi * PIXEL_DENSITY}):
        html = anim.to_jshtml(default_mode=default_mode)
    html = _FRAME.sub(_compact_frame, html)
    n_frames = len(_FRAME.findall(html))
    if alt is None:
        alt = (get_alt(fig) if fig is not None else None) or f"animation in {n_frames} frames"
    html = re.sub(r'<link rel="stylesheet"\s+href="[^"]*"\s*>', "", html)
    match = re.search(r'id="_anim_img([0-9a-f]+)"', html)
    if match is None:
        raise RuntimeError("unexpected to_jshtml() output: no frame image element found")
    html = html.replace(match.group(1), name)
    for css_class, shapes in _ICONS.items():
        html = html.replace(f'<i class="{css_class}"></i>', _svg(shapes))
    if '<i class="fa' in html or re.search(r"https?:", html):
        raise RuntimeError("unexpected to_jshtml() output: an icon or a network reference was left in")
    alt = html_lib.escape(" ".join(str(alt).split()), quote=True)
    html = html.replace(f'<img id="_anim_img{name}">', f'<img id="_anim_img{name}" alt="{alt}">')
    width = round(fig.get_size_inches()[0] * dpi) if fig is not None else 374
    wrapper = f"cnnlib_anim_{name}"
    css = _RESPONSIVE_CSS.format(wrapper=wrapper, width=width)
    return f'<div id="{wrapper}" class="cnnlib-animation" role="group" aria-label="{alt}">\n{css}\n{html}\n</div>'

