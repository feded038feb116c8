"""Bar charts as plain SVG geometry, drawn by the server: no script and no style attribute, so
they need nothing the Content-Security-Policy forbids.

Each bar has its label on a line of its own above it, so the chart stays narrow and its text
readable when a phone scales it down.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 360
LABEL_HEIGHT = 18
BAR_HEIGHT = 18
GAP = 12
ROW = LABEL_HEIGHT + BAR_HEIGHT + GAP
VALUE_ROOM = 48  # right of the longest bar, for its count
# A suppressed count is drawn as a short grey stub, labelled as hidden.
HIDDEN_SHARE = 0.04


@dataclass(frozen=True)
class Bar:
    label: str
    count: int | None  # None: suppressed
    y: int  # top of the label line
    width: int

    @property
    def label_y(self) -> int:
        return self.y + LABEL_HEIGHT - 4

    @property
    def bar_y(self) -> int:
        return self.y + LABEL_HEIGHT

    @property
    def value_x(self) -> int:
        return self.width + 6

    @property
    def value_y(self) -> int:
        return self.bar_y + BAR_HEIGHT - 4


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    width: int
    height: int
    bar_height: int


def bar_chart(values: list[tuple[str, int | None]]) -> BarChart:
    """Horizontal bars, one per value, scaled to the largest published count."""
    scale_width = WIDTH - VALUE_ROOM
    largest = max((count for _, count in values if count), default=0)
    bars = []
    for index, (label, count) in enumerate(values):
        share = count / largest if count and largest else 0.0
        if count is None:
            share = HIDDEN_SHARE
        bars.append(Bar(label=label, count=count, y=index * ROW, width=round(share * scale_width)))
    return BarChart(
        bars=bars, width=WIDTH, height=max(len(values) * ROW, ROW), bar_height=BAR_HEIGHT
    )
