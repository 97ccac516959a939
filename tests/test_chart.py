"""bot/chart.py: the route chart, checked by decoding the PNG (size, colours, the bars'
marking), never against a reference picture."""

from __future__ import annotations

import io
import itertools
from importlib import resources
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from bot.chart import (
    BACKGROUND,
    BAR,
    BAR_INCOMPLETE,
    HATCH,
    HEIGHT,
    MAX_BARS,
    WIDTH,
    Bar,
    Box,
    ChartError,
    bar_boxes,
    bar_chart,
)

ROUTE = "Бенгази/Benghazi (HLLB) → Minsk (UMMS) · operator BRU"
MONTHS = [Bar("2025-05", 2, True), Bar("2025-06", 5, True), Bar("2025-07", 4, False)]


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


def colours(image: Image.Image, box: Box | None = None) -> set[object]:
    """The distinct colours of `image`, or of the inside of `box`."""
    if box is not None:
        image = image.crop((box.left + 1, box.top + 1, box.right, box.bottom))
    found = image.getcolors(WIDTH * HEIGHT)
    assert found is not None
    return {colour for _, colour in found}


def test_a_png_of_the_expected_size_that_is_not_blank() -> None:
    png = bar_chart(ROUTE, MONTHS, subtitle="flights per month, UTC")
    image = decode(png)
    assert image.size == (WIDTH, HEIGHT) == (900, 500)
    assert len(colours(image)) > 10  # bars, hatching, grid, antialiased text
    assert image.getpixel(bar_boxes(MONTHS, subtitle="x")[1].centre) == BAR
    plot = image.crop((0, HEIGHT // 3, WIDTH, HEIGHT - 40))
    assert len(colours(plot)) > 3


def test_the_bundled_font_draws_cyrillic_and_latin_letters_apart() -> None:
    """A font without Cyrillic draws every Cyrillic letter as the same box: in the bundled
    font each letter has its own glyph, and the chart's title uses it."""
    font_file = resources.files("bot").joinpath("data/fonts/DejaVuSans.ttf")
    font = ImageFont.truetype(io.BytesIO(font_file.read_bytes()), 22)
    drawn = set()
    for letter in "БЖыяBZ→":
        image = Image.new("L", (40, 40))
        ImageDraw.Draw(image).text((5, 5), letter, font=font, fill=255)
        drawn.add(image.tobytes())
    assert len(drawn) == 7
    charts = {bar_chart(f"{city} (HLLB) → Minsk (UMMS)", MONTHS) for city in ("Бб", "Жж", "Bb")}
    assert len(charts) == 3


def test_the_title_is_drawn_in_the_header() -> None:
    plain = decode(bar_chart("", MONTHS))
    titled = decode(bar_chart(ROUTE, MONTHS))
    header = (0, 0, WIDTH, 45)
    assert colours(plain.crop(header)) == {BACKGROUND}
    assert len(colours(titled.crop(header))) > 3


def test_a_title_too_long_for_the_width_is_shortened_not_an_error() -> None:
    image = decode(bar_chart(ROUTE * 10, MONTHS))
    assert image.size == (WIDTH, HEIGHT)
    assert image.getpixel((WIDTH - 5, 25)) == BACKGROUND  # nothing drawn past the margin


def test_incomplete_periods_are_hatched_and_outlined_complete_ones_solid() -> None:
    bars = [Bar("2025-06", 5, True), Bar("2025-07", 5, False)]
    image = decode(bar_chart(ROUTE, bars))
    complete, incomplete = bar_boxes(bars)
    assert image.getpixel(complete.centre) == BAR
    assert image.getpixel(incomplete.centre) in {BAR_INCOMPLETE, HATCH}
    assert colours(image, complete) == {BAR}
    assert colours(image, incomplete) == {BAR_INCOMPLETE, HATCH}
    assert image.getpixel((incomplete.left, incomplete.centre[1])) == BAR  # the outline


def test_the_legend_appears_only_when_a_period_is_incomplete() -> None:
    """The legend's swatch is the only hatching outside the bars."""

    def hatch_outside_bars(bars: list[Bar]) -> bool:
        image = decode(bar_chart(ROUTE, bars))
        top = min(box.top for box in bar_boxes(bars)) - 30  # above the counts
        return HATCH in colours(image.crop((0, 0, WIDTH, top)))

    assert hatch_outside_bars([Bar("2025-06", 5, True), Bar("2025-07", 5, False)])
    assert not hatch_outside_bars([Bar("2025-06", 5, True), Bar("2025-07", 5, True)])


def test_no_bars_is_a_chart_error() -> None:
    with pytest.raises(ChartError, match="no bars"):
        bar_chart(ROUTE, [])


@pytest.mark.parametrize(
    ("bars", "message"),
    [
        ([Bar("2025-06", -1, True)], "negative count for 2025-06"),
        ([Bar(str(i), 1, True) for i in range(MAX_BARS + 1)], f"{MAX_BARS + 1} bars do not fit"),
    ],
)
def test_bars_that_cannot_be_drawn_are_a_chart_error(bars: list[Bar], message: str) -> None:
    with pytest.raises(ChartError, match=message):
        bar_chart(ROUTE, bars)


def test_all_zeros_draw_an_axis_and_mark_an_empty_incomplete_period() -> None:
    """A complete period with no flights has no bar; an incomplete one keeps a thin outlined
    stub, so "0 of a partial month" does not look like "0"."""
    bars = [Bar("2025-06", 0, True), Bar("2025-07", 0, False)]
    image = decode(bar_chart(ROUTE, bars))
    complete, incomplete = bar_boxes(bars)
    above_axis = complete.bottom - 2
    assert image.getpixel((complete.centre[0], above_axis)) == BACKGROUND
    assert image.getpixel((incomplete.centre[0], above_axis)) != BACKGROUND
    assert incomplete.bottom - incomplete.top >= 2


def test_one_huge_value_keeps_the_small_bars_visible() -> None:
    bars = [Bar("2025-W01", 1, True), Bar("2025-W02", 1_234_567, True), Bar("2025-W03", 3, True)]
    image = decode(bar_chart(ROUTE, bars))
    small, huge, _ = bar_boxes(bars)
    assert huge.bottom - huge.top > 250
    assert image.getpixel((small.centre[0], small.bottom - 1)) == BAR
    assert image.getpixel((small.centre[0], small.bottom - 3)) != BAR


def test_sixty_bars_each_drawn_side_by_side() -> None:
    bars = [Bar(f"day {i}", 1 + i % 7, i % 9 != 0) for i in range(60)]
    image = decode(bar_chart(ROUTE, bars))
    boxes = bar_boxes(bars)
    assert len(boxes) == 60
    assert all(a.right < b.left for a, b in itertools.pairwise(boxes))
    assert all(box.right <= WIDTH for box in boxes)
    for bar, box in zip(bars, boxes, strict=True):
        bottom = (box.centre[0], box.bottom - 1)
        assert (image.getpixel(bottom) == BAR) is bar.complete, bar


def test_a_broken_font_is_a_chart_error_with_its_cause(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font" * 100)
    with pytest.raises(ChartError, match="cannot draw the chart") as raised:
        bar_chart(ROUTE, MONTHS, font=broken)
    assert isinstance(raised.value.__cause__, OSError)


def test_a_missing_font_file_is_a_chart_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.ttf"
    with pytest.raises(ChartError, match=r"missing\.ttf") as raised:
        bar_chart(ROUTE, MONTHS, font=missing)
    assert isinstance(raised.value.__cause__, FileNotFoundError)


def test_the_font_and_its_licence_are_package_data() -> None:
    """Found through importlib.resources, as an installed wheel finds them."""
    fonts = resources.files("bot").joinpath("data/fonts")
    assert fonts.joinpath("DejaVuSans.ttf").read_bytes()[:4] == b"\x00\x01\x00\x00"
    licence = fonts.joinpath("DejaVuSans-LICENSE.txt").read_text(encoding="utf-8")
    assert "Bitstream" in licence
