"""Bar charts as plain SVG geometry, drawn by the server: no script and no style attribute, so
they need nothing the Content-Security-Policy forbids."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 640
LABEL_WIDTH = 220
BAR_HEIGHT = 26
GAP = 10
# A suppressed count is drawn as a short stub of this share of the scale, marked as hidden.
HIDDEN_SHARE = 0.04


@dataclass(frozen=True)
class Bar:
    label: str
    count: int | None  # None: suppressed
    y: int
    width: int

    @property
    def text_y(self) -> int:
        return self.y + BAR_HEIGHT // 2 + 5


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    width: int
    height: int
    label_width: int
    bar_height: int


def bar_chart(values: list[tuple[str, int | None]]) -> BarChart:
    """Horizontal bars, one per value, scaled to the largest published count."""
    scale_width = WIDTH - LABEL_WIDTH - 120
    largest = max((count for _, count in values if count), default=0)
    bars = []
    for index, (label, count) in enumerate(values):
        share = count / largest if count and largest else 0.0
        if count is None:
            share = HIDDEN_SHARE
        bars.append(
            Bar(
                label=label,
                count=count,
                y=index * (BAR_HEIGHT + GAP),
                width=round(share * scale_width),
            )
        )
    height = max(len(values) * (BAR_HEIGHT + GAP), BAR_HEIGHT)
    return BarChart(
        bars=bars, width=WIDTH, height=height, label_width=LABEL_WIDTH, bar_height=BAR_HEIGHT
    )
