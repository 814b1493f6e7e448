"""Small pieces every SVG picture shares: escaping, measuring text, and the theme.

The theme is CSS in the picture's own <style>, so one SVG reads well on a light page, in a dark
theme (prefers-color-scheme) and on paper (print: black on white). Every class starts with `tl-`:
an SVG put inline in an HTML page shares the page's CSS, and must neither take nor give styles.
Colours are Okabe-Ito's (colour-blind safe): you orange #E69F00, the kernel blue #0072B2, what is
wrong vermillion #D55E00; colour is never the only carrier (arrow heads, dashes, words do too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tcplab import i18n, junit
from tcplab import text as untrusted

SVG_NS = "http://www.w3.org/2000/svg"
CHAR_W = 7.3  # the width of one character of 12 px monospace text, near enough to lay out by
SANS_W = 6.6  # an average character of 12 px sans-serif text
# Fonts that have the CJK characters a Chinese picture or page needs (Linux, Windows, macOS), named
# before the generic family so a browser does not fall back glyph by glyph to a random one. Text
# is measured in display columns (tcplab.text.columns): a CJK character counts two, as wide as two
# Latin ones (12 px against 6 to 7).
CJK_FONTS = (
    "'Noto Sans CJK SC', 'WenQuanYi Micro Hei', 'Microsoft YaHei', 'PingFang SC', sans-serif"
)
SANS = "system-ui, 'DejaVu Sans', sans-serif"


@dataclass(frozen=True)
class Drawing:
    """A picture: a whole <svg> element (no XML declaration) and its size in px."""

    svg: str
    width: float
    height: float


def plain(text: object) -> str:
    """One line of text without control characters or anything XML 1.0 forbids."""
    return junit.xml_safe(untrusted.line(str(text)))


def esc(text: object) -> str:
    """Text for an XML attribute or element: `plain`, the five specials escaped (so "]]>" and
    quotes are harmless too)."""
    return (
        plain(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def num(value: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros ("12", "12.5")."""
    out = f"{value:.1f}"
    return out[:-2] if out.endswith(".0") else out


def seconds(value: float | None) -> str:
    """A time in the margin: "+0.081 s", or "" when not known."""
    if value is None:
        return ""
    return f"{value:+.3f} s" if abs(value) < 100 else f"{value:+.1f} s"


def clip(text: str, chars: int) -> str:
    """`text` cut to `chars` columns (a CJK character takes two), ending in "…" when cut."""
    return untrusted.clip(text, chars)


def wide(text: str) -> bool:
    """True when `text` has wide (CJK) characters: it is measured, and may break, between them."""
    return untrusted.columns(text) != len(text)


def wrap(words: tuple[str, ...] | list[str], chars: int, most: int) -> list[str]:
    """Words (never broken, but clipped when longer than a line) in lines of at most `chars`
    columns, at most `most` lines (the last ends in "…" when some are left out). Text with CJK
    characters breaks between them too (Chinese has no spaces between words)."""
    if any(wide(w) for w in words):
        text = " ".join(words)
        lines = untrusted.wrap(text, chars) if text else []
    else:
        lines = []
        for word in words:
            word = clip(word, chars)
            if lines and len(lines[-1]) + 1 + len(word) <= chars:
                lines[-1] += " " + word
            else:
                lines.append(word)
    if len(lines) > most:
        lines = lines[:most]
        lines[-1] = _cut(lines[-1], chars - 1).rstrip() + "…"
    return lines


def _cut(text: str, cols: int) -> str:
    """The start of `text` that fits `cols` columns."""
    out, used = "", 0
    for c in text:
        used += untrusted.columns(c)
        if used > cols:
            break
        out += c
    return out


def text_words(text: str) -> list[str]:
    return re.split(r"\s+", untrusted.line(text).strip()) if text.strip() else []


THEME = """
.tl-svg { font-family: system-ui, 'DejaVu Sans', sans-serif; font-size: 12px; }
.tl-svg text { fill: #1a1a1a; }
.tl-svg .tl-bg { fill: #ffffff; }
.tl-svg .tl-mono { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; }
.tl-svg .tl-title { font-size: 14px; font-weight: bold; }
.tl-svg .tl-small { font-size: 10.5px; }
.tl-svg .tl-dim { fill: #555555; }
.tl-svg .tl-flags { font-weight: bold; }
.tl-svg .tl-life { stroke: #8c8c8c; stroke-width: 1.2; stroke-dasharray: 5 4; }
.tl-svg .tl-you { stroke: #E69F00; fill: #E69F00; }
.tl-svg .tl-kernel { stroke: #0072B2; fill: #0072B2; }
.tl-svg line.tl-you, .tl-svg line.tl-kernel, .tl-svg path.tl-edge { fill: none; stroke-width: 2; }
.tl-svg line.tl-kernel { stroke-dasharray: 7 3; }
.tl-svg .tl-box { fill: #ffffff; stroke-width: 1.6; }
.tl-svg .tl-box.tl-model { stroke-dasharray: 4 3; }
.tl-svg .tl-note { fill: #f3f3f3; stroke: #c8c8c8; }
.tl-svg text.tl-mark { fill: #D55E00; font-weight: bold; }
.tl-svg text.tl-pass { fill: #007a52; }
.tl-svg text.tl-fail { fill: #D55E00; font-weight: bold; }
.tl-svg .tl-conn { fill: #5a3d99; }
.tl-svg .tl-rule { stroke: #e0e0e0; stroke-width: 1; }
.tl-svg .tl-s, .tl-svg .tl-t, .tl-svg .tl-k, .tl-svg .tl-b {
  font-family: ui-monospace, 'DejaVu Sans Mono', monospace; }
.tl-svg .tl-s, .tl-svg .tl-u, .tl-svg .tl-w, .tl-svg .tl-b { text-anchor: middle; }
.tl-svg .tl-t, .tl-svg .tl-k { text-anchor: end; }
.tl-svg .tl-u, .tl-svg .tl-w, .tl-svg .tl-t, .tl-svg .tl-k { font-size: 10.5px; }
.tl-svg text.tl-u, .tl-svg text.tl-t { fill: #555555; }
.tl-svg text.tl-w { fill: #D55E00; font-weight: bold; }
.tl-svg text.tl-k { fill: #5a3d99; }
@media (prefers-color-scheme: dark) {
  .tl-svg text { fill: #ececec; }
  .tl-svg .tl-bg { fill: #1b1d21; }
  .tl-svg .tl-dim { fill: #b0b0b0; }
  .tl-svg .tl-kernel { stroke: #56B4E9; fill: #56B4E9; }
  .tl-svg .tl-box { fill: #1b1d21; }
  .tl-svg .tl-note { fill: #2a2d33; stroke: #4a4d55; }
  .tl-svg .tl-life { stroke: #9a9a9a; }
  .tl-svg text.tl-pass { fill: #35c28f; }
  .tl-svg text.tl-mark, .tl-svg text.tl-fail { fill: #ff8a4c; }
  .tl-svg .tl-conn, .tl-svg text.tl-k { fill: #c3a6ff; }
  .tl-svg text.tl-u, .tl-svg text.tl-t { fill: #b0b0b0; }
  .tl-svg text.tl-w { fill: #ff8a4c; }
  .tl-svg .tl-rule { stroke: #33363c; }
}
@media print {
  .tl-svg text { fill: #000000; }
  .tl-svg .tl-bg, .tl-svg .tl-box { fill: #ffffff; }
  .tl-svg .tl-kernel { stroke: #0072B2; fill: #0072B2; }
}
"""


FIT = "max-width: 100%; height: auto;"  # a page narrower than the picture scales it down


def fonts(css: str) -> str:
    """`css` with CJK fonts in every sans-serif family list, when the language spoken is written
    in CJK characters (English pictures stay as they were)."""
    if i18n.language() == i18n.ENGLISH:
        return css
    return css.replace("'DejaVu Sans', sans-serif", f"'DejaVu Sans', {CJK_FONTS}").replace(
        "'DejaVu Sans Mono', monospace",
        f"'DejaVu Sans Mono', {CJK_FONTS.replace('sans-serif', 'monospace')}",
    )


def root(body: str, width: float, height: float, label: str, css: str = THEME) -> str:
    """An <svg> element around `body`: its size, viewBox, accessible name, theme, background."""
    w, h = num(width), num(height)
    css = fonts(css)
    return (
        f'<svg xmlns="{SVG_NS}" class="tl-svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img" aria-label="{esc(label)}" '
        f'style="{FIT}">'
        f"<title>{esc(label)}</title><style>{css}</style>"
        f'<rect class="tl-bg" x="0" y="0" width="{w}" height="{h}"/>{body}</svg>'
    )


_KEPT = ("id", "class", "role", "aria-label")  # what a placed picture's <svg> tag passes on
_ATTR = re.compile(r'([\w:-]+)="([^"]*)"')


def place(drawing: Drawing, x: float, y: float) -> str:
    """`drawing` inside another picture with its top left corner at (x, y): its <svg> becomes a
    <g> (keeping its id and classes, which its own <style> scopes by), so a page holds one <svg>
    per picture and nothing clips."""
    svg = re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", drawing.svg).strip()
    move = f'transform="translate({num(x)} {num(y)})"'
    if not (svg.startswith("<svg") and svg.endswith("</svg>")):
        return f"<g {move}>{svg}</g>"
    end = svg.index(">")
    attrs = "".join(f' {k}="{v}"' for k, v in _ATTR.findall(svg[:end]) if k in _KEPT)
    return f"<g {move}{attrs}>{svg[end + 1 : -len('</svg>')]}</g>"


def inline(svg: str) -> str:
    """An SVG document to put inside an HTML page: the HTML parser knows <svg>, so without its
    namespace declarations (a page that names no address outside itself)."""
    return re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", svg).replace(f' xmlns="{SVG_NS}"', "")
