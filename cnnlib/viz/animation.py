"""Animations as self-contained HTML that works offline.

``FuncAnimation.to_jshtml()`` embeds every frame as a PNG and ships a small
player, but it also loads Font Awesome from a CDN for its button icons and
names its elements with a random id. Offline, the stylesheet request fails
(a console error) and the buttons are blank; a random id changes the page
on every build. :func:`animation_html` fixes both: inline SVG icons and a
stable id chosen by the caller.
"""

from __future__ import annotations

import re

from matplotlib.animation import Animation

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


def animation_html(anim: Animation, name: str, alt: str = "animation frame", default_mode: str = "once") -> str:
    """HTML for a matplotlib animation, with no network access and a fixed id.

    Parameters
    ----------
    anim : matplotlib.animation.Animation
    name : str
        Identifier for the player's elements (letters, digits, underscores);
        must be unique within a page.
    alt : str
        Alternative text of the frame image.
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
    html = anim.to_jshtml(default_mode=default_mode)
    html = re.sub(r'<link rel="stylesheet"\s+href="[^"]*"\s*>', "", html)
    match = re.search(r'id="_anim_img([0-9a-f]+)"', html)
    if match is None:
        raise RuntimeError("unexpected to_jshtml() output: no frame image element found")
    html = html.replace(match.group(1), name)
    for css_class, shapes in _ICONS.items():
        html = html.replace(f'<i class="{css_class}"></i>', _svg(shapes))
    if '<i class="fa' in html or re.search(r"https?:", html):
        raise RuntimeError("unexpected to_jshtml() output: an icon or a network reference was left in")
    alt = alt.replace('"', "&quot;")
    return html.replace(f'<img id="_anim_img{name}">', f'<img id="_anim_img{name}" alt="{alt}">')
