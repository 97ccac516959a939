"""A bar chart as PNG bytes: counts per period, incomplete periods hatched.

Drawn with Pillow (rectangles, lines and text; no plotting library: matplotlib would add about
180 MB and a second of import for one small picture, see the README's Benchmarks) in the
bundled DejaVu Sans (`bot/data/fonts/`), which has Latin and Cyrillic, so a title such as
"Бенгази/Benghazi (HLLB) → Minsk (UMMS)" renders the same on every host. Pure: no file is
written. Any failure while drawing is raised as `ChartError` with its cause: callers then send
their text alone, never fail because of the picture.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont

WIDTH = 900
HEIGHT = 500
MARGIN = 16

# Colours: complete bars solid; incomplete ones light, hatched and outlined in the same blue.
BACKGROUND = (255, 255, 255)
BAR = (59, 110, 165)
BAR_INCOMPLETE = (219, 229, 241)
HATCH = (138, 167, 201)
GRID = (227, 227, 227)
AXIS = (136, 136, 136)
TEXT = (34, 34, 34)
MUTED = (102, 102, 102)

TITLE_SIZE = 22
SMALLEST_TITLE = 14
SUBTITLE_SIZE = 16
LABEL_SIZE = 15
SMALL_LABEL_SIZE = 12
HATCH_STEP = 6
INCOMPLETE_STUB = 3  # px: an incomplete period with no flights still shows its outline
MAX_BARS = 400  # 2 px each: a year of days fits
MAX_BAR_WIDTH = 120  # px: one or two periods do not fill the plot
LEGEND = "incomplete coverage (days not fetched)"

FONT_PACKAGE = "bot"
FONT_RESOURCE = "data/fonts/DejaVuSans.ttf"


class ChartError(Exception):
    """The chart could not be drawn (bad input, unreadable font, a Pillow error): send the text
    alone."""


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    complete: bool  # False: drawn light and hatched, with a legend line


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in pixels, both corners inclusive (Pillow's convention)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def centre(self) -> tuple[int, int]:
        return ((self.left + self.right) // 2, (self.top + self.bottom) // 2)


def bar_chart(
    title: str,
    bars: Sequence[Bar],
    *,
    subtitle: str = "",
    font: str | os.PathLike[str] | None = None,
) -> bytes:
    """The PNG (WIDTH × HEIGHT) of `bars`, y axis from 0. `font`: a TrueType file to draw with
    instead of the bundled DejaVu Sans (tests inject a broken one)."""
    check_bars(bars)
    try:
        fonts = Fonts.load(font)
        image = draw_chart(title, bars, subtitle, fonts)
        out = io.BytesIO()
        image.save(out, format="PNG")  # optimize=True: 10 % smaller, twice as slow
    except Exception as e:  # the contract: any failure in drawing is a ChartError
        raise ChartError(f"cannot draw the chart {title!r}: {e}") from e
    return out.getvalue()


def check_bars(bars: Sequence[Bar]) -> None:
    if not bars:
        raise ChartError("no bars to draw: a chart needs at least one period")
    negative = [b.label for b in bars if b.value < 0]
    if negative:
        raise ChartError(f"negative count for {', '.join(negative)}: bars start at 0")
    if len(bars) > MAX_BARS:
        raise ChartError(
            f"{len(bars)} bars do not fit in {WIDTH} px (at most {MAX_BARS}): use longer periods"
        )


def bar_boxes(bars: Sequence[Bar], *, subtitle: str = "") -> tuple[Box, ...]:
    """Where each bar is drawn (the bundled font's metrics): for tests that sample the bars."""
    fonts = Fonts.load(None)
    return Layout.of(bars, bool(subtitle), fonts).boxes(bars)


# ── fonts ──


@dataclass(frozen=True, slots=True)
class Fonts:
    data: bytes
    label: ImageFont.FreeTypeFont
    small: ImageFont.FreeTypeFont
    subtitle: ImageFont.FreeTypeFont

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None) -> Fonts:
        data = font_bytes(None if path is None else os.fspath(path))
        return cls(
            data=data,
            label=truetype(data, LABEL_SIZE),
            small=truetype(data, SMALL_LABEL_SIZE),
            subtitle=truetype(data, SUBTITLE_SIZE),
        )

    def sized(self, size: int) -> ImageFont.FreeTypeFont:
        return truetype(self.data, size)


@lru_cache(maxsize=4)
def font_bytes(path: str | None) -> bytes:
    """The bundled font (read through importlib.resources, so it works from a wheel), or the
    file at `path`."""
    if path is None:
        return resources.files(FONT_PACKAGE).joinpath(FONT_RESOURCE).read_bytes()
    with open(path, "rb") as f:
        return f.read()


def truetype(data: bytes, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(io.BytesIO(data), size)


def text_size(font: ImageFont.FreeTypeFont, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return (math.ceil(right - left), math.ceil(bottom - top))


def line_height(font: ImageFont.FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return int(ascent + descent)


# ── layout ──


def y_scale(top_value: int) -> tuple[int, int]:
    """(axis top, gridline step): a step of 1, 2 or 5 × 10ⁿ giving at most 5 intervals, never
    below 1 (counts are whole)."""
    top_value = max(top_value, 1)
    magnitude = 10 ** max(0, len(str(top_value)) - 2)
    step = next(
        m * f
        for f in (magnitude, magnitude * 10, magnitude * 100)
        for m in (1, 2, 5)
        if math.ceil(top_value / (m * f)) <= 5
    )
    return (step * math.ceil(top_value / step), step)


def count_text(value: int) -> str:
    return f"{value:,}"


@dataclass(frozen=True, slots=True)
class Layout:
    header_bottom: int
    plot: Box
    axis_top: int
    step: int

    @classmethod
    def of(cls, bars: Sequence[Bar], has_subtitle: bool, fonts: Fonts) -> Layout:
        header = MARGIN + line_height(fonts.sized(TITLE_SIZE))
        if has_subtitle:
            header += line_height(fonts.subtitle) + 2
        if not all(b.complete for b in bars):
            header += line_height(fonts.label) + 4
        axis_top, step = y_scale(max(b.value for b in bars))
        tick_width = max(
            text_size(fonts.label, count_text(v))[0] for v in range(0, axis_top + 1, step)
        )
        label_height = line_height(fonts.label)
        plot = Box(
            left=MARGIN + tick_width + 8,
            top=header + label_height + 12,  # room for the tallest bar's count
            right=WIDTH - MARGIN,
            bottom=HEIGHT - MARGIN - label_height - 6,
        )
        return cls(header_bottom=header, plot=plot, axis_top=axis_top, step=step)

    def slot(self, count: int) -> float:
        """The width each of `count` bars has, gap included."""
        return (self.plot.right - self.plot.left) / count

    def y_of(self, value: int) -> int:
        height = self.plot.bottom - self.plot.top
        return self.plot.bottom - round(value / self.axis_top * height)

    def boxes(self, bars: Sequence[Bar]) -> tuple[Box, ...]:
        slot = self.slot(len(bars))
        width = max(1, min(MAX_BAR_WIDTH, math.floor(slot * 0.72)))
        out = []
        for i, bar in enumerate(bars):
            left = self.plot.left + math.floor(i * slot + (slot - width) / 2)
            top = self.y_of(bar.value)
            if bar.value > 0:
                top = min(top, self.plot.bottom - 1)
            if not bar.complete:
                top = min(top, self.plot.bottom - INCOMPLETE_STUB)
            out.append(Box(left, top, left + width - 1, self.plot.bottom))
        return tuple(out)


# ── drawing ──


def draw_chart(title: str, bars: Sequence[Bar], subtitle: str, fonts: Fonts) -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    layout = Layout.of(bars, bool(subtitle), fonts)
    draw_header(image, draw, title, subtitle, bars, fonts)
    draw_grid(draw, layout, fonts)
    boxes = layout.boxes(bars)
    hatch = hatch_layer()
    for bar, box in zip(bars, boxes, strict=True):
        draw_bar(image, draw, bar, box, hatch)
    draw.line(
        [(layout.plot.left, layout.plot.bottom), (layout.plot.right, layout.plot.bottom)],
        fill=AXIS,
        width=1,
    )
    draw_counts(draw, bars, boxes, layout.slot(len(bars)), fonts)
    draw_labels(draw, bars, boxes, layout, fonts)
    return image


ROOM = WIDTH - 2 * MARGIN


def fitted_title(title: str, fonts: Fonts) -> tuple[str, ImageFont.FreeTypeFont]:
    """The title in the largest size that fits the width, shortened with … at the smallest."""
    title = one_line(title)[: ROOM // 3 + 1]  # longer never fits: see shortened()
    for size in range(TITLE_SIZE, SMALLEST_TITLE, -2):
        font = fonts.sized(size)
        if text_size(font, title)[0] <= ROOM:
            return (title, font)
    font = fonts.sized(SMALLEST_TITLE)
    return (shortened(title, font), font)


def one_line(text: str) -> str:
    return " ".join(text.split())


def shortened(text: str, font: ImageFont.FreeTypeFont) -> str:
    """`text` as it fits the image's width, cut with … if need be."""
    text = text[: ROOM // 3]  # no glyph of the sizes used is narrower than 3 px
    if text_size(font, text)[0] <= ROOM:
        return text
    fits, too_long = 0, len(text)  # the longest prefix that fits with its …, by halving
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if text_size(font, text[:middle] + "…")[0] <= ROOM:
            fits = middle
        else:
            too_long = middle
    return text[:fits].rstrip() + "…"


def draw_header(
    image: Image.Image,
    draw: ImageDraw.ImageDraw,
    title: str,
    subtitle: str,
    bars: Sequence[Bar],
    fonts: Fonts,
) -> None:
    text, font = fitted_title(title, fonts)
    draw.text((MARGIN, MARGIN), text, font=font, fill=TEXT)
    y = MARGIN + line_height(fonts.sized(TITLE_SIZE))
    if subtitle:
        line = shortened(one_line(subtitle), fonts.subtitle)
        draw.text((MARGIN, y), line, font=fonts.subtitle, fill=MUTED)
        y += line_height(fonts.subtitle) + 2
    if not all(b.complete for b in bars):
        swatch_height = line_height(fonts.label) - 6
        swatch = Box(MARGIN, y + 4, MARGIN + 2 * swatch_height - 1, y + 4 + swatch_height - 1)
        draw_incomplete(image, draw, swatch, hatch_layer())
        draw.text((swatch.right + 8, y + 1), LEGEND, font=fonts.label, fill=MUTED)


def draw_grid(draw: ImageDraw.ImageDraw, layout: Layout, fonts: Fonts) -> None:
    plot = layout.plot
    for value in range(0, layout.axis_top + 1, layout.step):
        y = layout.y_of(value)
        if value:
            draw.line([(plot.left, y), (plot.right, y)], fill=GRID, width=1)
        draw.text((plot.left - 8, y), count_text(value), font=fonts.label, fill=MUTED, anchor="rm")


@lru_cache(maxsize=1)
def hatch_layer() -> Image.Image:
    """The whole image's worth of light fill with diagonal lines: bars take their piece of it,
    so the hatching lines up from bar to bar."""
    layer = Image.new("RGB", (WIDTH, HEIGHT), BAR_INCOMPLETE)
    draw = ImageDraw.Draw(layer)
    for x in range(-HEIGHT, WIDTH, HATCH_STEP):
        draw.line([(x, HEIGHT), (x + HEIGHT, 0)], fill=HATCH, width=1)
    return layer


def draw_incomplete(
    image: Image.Image, draw: ImageDraw.ImageDraw, box: Box, hatch: Image.Image
) -> None:
    area = (box.left, box.top, box.right + 1, box.bottom + 1)
    image.paste(hatch.crop(area), area[:2])
    draw.rectangle((box.left, box.top, box.right, box.bottom), outline=BAR, width=1)


def draw_bar(
    image: Image.Image, draw: ImageDraw.ImageDraw, bar: Bar, box: Box, hatch: Image.Image
) -> None:
    if not bar.complete:
        draw_incomplete(image, draw, box, hatch)
    elif bar.value > 0:
        draw.rectangle((box.left, box.top, box.right, box.bottom), fill=BAR)


def draw_counts(
    draw: ImageDraw.ImageDraw,
    bars: Sequence[Bar],
    boxes: Sequence[Box],
    slot: float,
    fonts: Fonts,
) -> None:
    """Each bar's count above it, when the widest fits a bar's slot (in the smaller size if
    need be); otherwise none, rather than some."""
    for font in (fonts.label, fonts.small):
        widest = max(text_size(font, count_text(b.value))[0] for b in bars)
        if widest <= slot - 2:
            for bar, box in zip(bars, boxes, strict=True):
                x = (box.left + box.right + 1) / 2
                draw.text(
                    (x, box.top - 4), count_text(bar.value), font=font, fill=TEXT, anchor="mb"
                )
            return


def draw_labels(
    draw: ImageDraw.ImageDraw,
    bars: Sequence[Bar],
    boxes: Sequence[Box],
    layout: Layout,
    fonts: Fonts,
) -> None:
    """The period labels under the bars; when crowded, every k-th from the first."""
    widest = max(text_size(fonts.label, b.label)[0] for b in bars)
    every = max(1, math.ceil((widest + 12) / layout.slot(len(bars))))
    y = layout.plot.bottom + 6
    for i in range(0, len(bars), every):
        box = boxes[i]
        width = text_size(fonts.label, bars[i].label)[0]
        centre = (box.left + box.right + 1) / 2
        # Clamped to the plot's width, clear of the y axis's "0".
        x = min(max(centre - width / 2, layout.plot.left - 4), WIDTH - MARGIN - width)
        draw.text((x, y), bars[i].label, font=fonts.label, fill=MUTED, anchor="lt")
