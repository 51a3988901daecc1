"""Display widgets. They draw what the view models computed and do no signal processing."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from rtaudio.gui.viewmodels import Envelope, LatencyText, Segment

PLOT_BG = "#16181d"
FIXED_COLORS = {
    "speech": "#4fc3f7",
    "music": "#ffb74d",
    "noise": "#a1887f",
    "silence": "#3a3f4b",
}
PALETTE = (
    "#81c784",
    "#e57373",
    "#ba68c8",
    "#4db6ac",
    "#fff176",
    "#7986cb",
    "#f06292",
    "#aed581",
    "#ff8a65",
    "#90a4ae",
)


def label_color(label: str) -> QColor:
    """A stable colour per label name (the same in bars and timeline)."""
    hex_ = FIXED_COLORS.get(label) or PALETTE[zlib.crc32(label.encode()) % len(PALETTE)]
    return QColor(hex_)


class ScoreBars(QWidget):
    """Rows of ``name [bar] value``; the current label is shown bold."""

    def __init__(self, rows: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 2, 4, 2)
        grid.setVerticalSpacing(3)
        self.names: list[QLabel] = []
        self.bars: list[QProgressBar] = []
        self.values: list[QLabel] = []
        for i in range(rows):
            name, bar, value = QLabel(""), QProgressBar(), QLabel("")
            name.setMinimumWidth(110)
            bar.setRange(0, 1000)
            bar.setTextVisible(False)
            bar.setFixedHeight(14)
            bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            value.setMinimumWidth(40)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(name, i, 0)
            grid.addWidget(bar, i, 1)
            grid.addWidget(value, i, 2)
            self.names.append(name)
            self.bars.append(bar)
            self.values.append(value)
        self._colors = [""] * rows  # style sheets are costly: set only on change

    def set_scores(self, items: Sequence[tuple[str, float]], current: str = "") -> None:
        rows = zip(self.names, self.bars, self.values, strict=True)
        for i, (name, bar, value) in enumerate(rows):
            if i >= len(items):
                name.setText("")
                value.setText("")
                bar.setValue(0)
                continue
            label, score = items[i]
            if name.font().bold() != (label == current):
                font = name.font()
                font.setBold(label == current)
                name.setFont(font)
            name.setText(label.replace("_", " "))
            value.setText(f"{score:.2f}")
            bar.setValue(round(max(0.0, min(1.0, score)) * 1000))
            color = label_color(label).name()
            if self._colors[i] != color:
                self._colors[i] = color
                bar.setStyleSheet(f"QProgressBar::chunk {{ background: {color}; }}")

    def scores(self) -> list[tuple[str, int]]:
        """What is shown: (name, bar value 0..1000) per filled row."""
        rows = zip(self.names, self.bars, strict=True)
        return [(n.text(), b.value()) for n, b in rows if n.text()]


class LevelMeter(QWidget):
    """A horizontal input meter, -60..0 dBFS: the RMS as a bar (green, yellow from -12 dBFS,
    red from -3), the held peak as a tick, the numbers, and CLIP while the device clips."""

    LOW_DB = -60.0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rms_db = self.peak_db = -100.0
        self.clipping = False
        self.setMinimumHeight(18)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_level(self, rms_db: float, peak_db: float, clipping: bool) -> None:
        if (rms_db, peak_db, clipping) != (self.rms_db, self.peak_db, self.clipping):
            self.rms_db, self.peak_db, self.clipping = rms_db, peak_db, clipping
            self.update()

    def text(self) -> str:
        """What the meter writes beside the bar."""
        if self.rms_db <= -99.0:
            return "silence" + ("  CLIP" if self.clipping else "")
        clip = "  CLIP" if self.clipping else ""
        return f"{self.rms_db:5.1f} dBFS  peak {self.peak_db:5.1f}{clip}"

    def _x(self, db: float, width: float) -> float:
        return width * max(0.0, min(1.0, (db - self.LOW_DB) / -self.LOW_DB))

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        text_w = QFontMetrics(self.font()).horizontalAdvance("-00.0 dBFS  peak -00.0  CLIP") + 8
        w, h = max(10.0, self.width() - text_w), float(self.height())
        p.fillRect(QRectF(0, 2, w, h - 4), QColor(PLOT_BG))
        for lo, hi, color in ((-60, -12, "#66bb6a"), (-12, -3, "#fdd835"), (-3, 0, "#e53935")):
            right = min(self._x(self.rms_db, w), self._x(hi, w))
            left = self._x(lo, w)
            if right > left:
                p.fillRect(QRectF(left, 3, right - left, h - 6), QColor(color))
        if self.peak_db > self.LOW_DB:
            x = self._x(self.peak_db, w)
            p.fillRect(QRectF(x - 1, 2, 2, h - 4), QColor("#ffffff"))
        p.setPen(QColor("#e53935") if self.clipping else self.palette().text().color())
        p.drawText(
            QRectF(w + 8, 0, text_w - 8, h),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            self.text(),
        )
        p.end()


class WaveformView(pg.PlotWidget):
    """Input (and separated voice) envelope over stream time."""

    TITLES: ClassVar[dict[bool, str]] = {
        False: 'Waveform: <span style="color:#4fc3f7">input</span>',
        True: 'Waveform: <span style="color:#4fc3f7">input</span> / '
        '<span style="color:#ffb74d">separated voice</span>',
    }

    def __init__(self) -> None:
        super().__init__(background=PLOT_BG)
        _style(self, self.TITLES[False], "")
        self._voice = False
        self.setYRange(-1.0, 1.0, padding=0.12)
        self.getPlotItem().getAxis("left").setTicks([[(-1.0, "-1"), (0.0, "0"), (1.0, "1")]])
        self.getPlotItem().hideAxis("bottom")  # shares the timeline's time axis
        self.input_curve = self.plot([], [], pen=pg.mkPen("#4fc3f7", width=1))
        self.voice_curve = self.plot([], [], pen=pg.mkPen("#ffb74d", width=1))

    def set_envelopes(self, inp: Envelope, voice: Envelope | None) -> None:
        self.input_curve.setData(inp.x, inp.y)
        if (voice is not None) != self._voice:
            self._voice = voice is not None
            self.getPlotItem().setTitle(self.TITLES[self._voice], size="9pt", color="#d0d4dc")
        if voice is None:
            self.voice_curve.setData([], [])
        else:
            self.voice_curve.setData(voice.x, voice.y)


def _style(w: pg.PlotWidget, title: str, left: str) -> None:
    item = w.getPlotItem()
    item.setTitle(title, size="9pt", color="#d0d4dc")
    w.setLabel("left", left)
    w.setMouseEnabled(False, False)
    w.hideButtons()
    w.setMenuEnabled(False)
    w.showGrid(x=True, y=False, alpha=0.15)
    for ax in ("left", "bottom"):
        axis = item.getAxis(ax)
        axis.setTextPen("#c0c4cc")
        axis.setPen("#5a5f6b")
    item.getAxis("left").setWidth(64)


class SpectrogramView(pg.PlotWidget):
    """Scrolling log-mel spectrogram (one ImageItem, colour-mapped)."""

    def __init__(self) -> None:
        super().__init__(background=PLOT_BG)
        self.title = self.TITLES["input"]
        _style(self, self.title, "Hz")
        self.getPlotItem().hideAxis("bottom")  # shares the timeline's time axis
        self.image = pg.ImageItem(axisOrder="col-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.addItem(self.image)
        self.setYRange(0, 40, padding=0)

    TITLES: ClassVar[dict[str, str]] = {
        "input": "Log-mel spectrogram: input",
        "voice": "Log-mel spectrogram: separated voice",
    }

    def set_frequency_ticks(self, ticks: list[tuple[float, str]]) -> None:
        """Label the band axis in Hz: ``(band position, label)`` pairs."""
        self.getPlotItem().getAxis("left").setTicks([ticks, []])

    def set_image(
        self,
        img: np.ndarray,
        rect: tuple[float, float, float, float],
        levels: tuple[float, float],
        which: str = "input",
    ) -> None:
        """Show ``img``, the spectrogram of the ``input`` or of the separated ``voice``."""
        title = self.TITLES[which]
        if self.title != title:
            self.title = title
            self.getPlotItem().setTitle(title, size="9pt", color="#d0d4dc")
        self.image.setImage(img, autoLevels=False, levels=levels)
        self.image.setRect(QRectF(*rect))
        self.setYRange(rect[1], rect[1] + rect[3], padding=0)


class TimelineView(pg.PlotWidget):
    """Each label drawn over the time span it covers; hatched: received, not labelled yet."""

    ROWS: ClassVar[dict[str, float]] = {"swishnet": 1.0, "esresnet": 0.0}
    NAMES: ClassVar[dict[str, str]] = {"swishnet": "SwishNet", "esresnet": "ESResNet"}

    def __init__(self) -> None:
        super().__init__(background=PLOT_BG)
        _style(
            self,
            "Label timeline (hatched: audio received, label still waiting for its lookahead)",
            "",
        )
        self.setYRange(-0.55, 1.55, padding=0)
        self.getPlotItem().getAxis("left").setTicks(
            [[(y, self.NAMES[m]) for m, y in self.ROWS.items()]]
        )
        self.setLabel("bottom", "stream time (s)")
        self.bars = {m: pg.BarGraphItem(x0=[], x1=[], y0=[], height=[]) for m in self.ROWS}
        self.pending = {m: pg.BarGraphItem(x0=[], x1=[], y0=[], height=[]) for m in self.ROWS}
        for m in self.ROWS:
            self.addItem(self.bars[m])
            self.addItem(self.pending[m])
        self.now_line = pg.InfiniteLine(
            angle=90, pen=pg.mkPen("#eeeeee", width=1, style=Qt.PenStyle.DashLine)
        )
        self.addItem(self.now_line)
        self._texts: list[pg.TextItem] = []
        self.shown: dict[str, list[Segment]] = {}

    def _text(self, i: int) -> pg.TextItem:
        while len(self._texts) <= i:
            t = pg.TextItem("", color="#101216", anchor=(0, 0.5))
            font = QFont(self.font())
            font.setPointSize(8)
            t.setFont(font)
            self.addItem(t)
            self._texts.append(t)
        return self._texts[i]

    def set_segments(
        self,
        segments: dict[str, list[Segment]],
        pending: dict[str, tuple[float, float]],
        now: float,
        x_range: tuple[float, float],
    ) -> None:
        self.shown = segments
        span = x_range[1] - x_range[0]
        px_per_s = self.getViewBox().width() / span if span > 0 else 0.0
        metrics = QFontMetrics(self._text(0).textItem.font())
        n_text = 0
        for model, y in self.ROWS.items():
            segs = segments.get(model, [])
            if segs:
                self.bars[model].setOpts(
                    x0=[s.start for s in segs],
                    x1=[s.end for s in segs],
                    y0=[y - 0.38] * len(segs),
                    height=[0.76] * len(segs),
                    brushes=[pg.mkBrush(label_color(s.label)) for s in segs],
                    pens=[pg.mkPen("#16181d", width=1)] * len(segs),
                )
            else:
                self.bars[model].setOpts(x0=[], x1=[], y0=[], height=[])
            for s in segs:
                left = max(s.start, x_range[0])
                room = (min(s.end, x_range[1]) - left) * px_per_s - 8  # pixels inside the bar
                text = metrics.elidedText(
                    s.label.replace("_", " "), Qt.TextElideMode.ElideRight, int(room)
                )
                if s.label == "silence" or len(text) < 3:  # nothing readable fits
                    continue
                t = self._text(n_text)
                t.setText(text)
                t.setPos(left, y)
                t.setVisible(True)
                n_text += 1
            a, b = pending.get(model, (now, now))
            hatch = QBrush(QColor("#c8c8c8"), Qt.BrushStyle.BDiagPattern)
            self.pending[model].setOpts(
                x0=[a], x1=[b], y0=[y - 0.38], height=[0.76], brush=hatch, pen=pg.mkPen("#888")
            )
        for t in self._texts[n_text:]:
            t.setVisible(False)
        self.now_line.setValue(now)
        self.setXRange(*x_range, padding=0)


class LatencyPanel(QWidget):
    """Per-chunk processing time plot, the numbers, and warnings when falling behind."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.plot = pg.PlotWidget(background=PLOT_BG)
        _style(self.plot, "Processing time per chunk", "ms")
        self.plot.setLabel("bottom", "stream time (s)")
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#81c784", width=1))
        self.budget = pg.InfiniteLine(
            angle=0, pen=pg.mkPen("#e57373", width=1, style=Qt.PenStyle.DashLine)
        )
        self.plot.addItem(self.budget)
        self._top = 0.0
        row.addWidget(self.plot, 3)
        side = QVBoxLayout()
        grid = QGridLayout()
        grid.setVerticalSpacing(2)
        self.fields: dict[str, QLabel] = {}
        names = (
            ("percentiles", "Processing"),
            ("queue", "Queue depth"),
            ("algorithmic", "Algorithmic"),
            ("end_to_end", "End-to-end"),
            ("counters", "Xruns, clips"),
        )
        for i, (key, title) in enumerate(names):
            head = QLabel(title + ":")
            head.setStyleSheet("color: #666;")
            value = QLabel("–")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(head, i, 0)
            grid.addWidget(value, i, 1)
            self.fields[key] = value
        head = QLabel("Round trip:")
        head.setStyleSheet("color: #666;")
        head.setToolTip(
            "Measured with the output connected back to the input (a cable, or the output's "
            "monitor as the input): chirps played in place of the output and found again."
        )
        self.round_trip = QLabel("–")
        self.round_trip.setWordWrap(True)
        self.round_trip.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.measure_button = QPushButton("Measure")
        self.measure_button.setToolTip(head.toolTip())
        grid.addWidget(head, len(names), 0)
        trip = QHBoxLayout()
        trip.addWidget(self.round_trip, 1)
        trip.addWidget(self.measure_button)
        grid.addLayout(trip, len(names), 1)
        grid.setColumnStretch(1, 1)
        side.addLayout(grid)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #c62828; font-weight: bold;")
        side.addWidget(self.warning)
        side.addStretch(1)
        row.addLayout(side, 2)

    def set_budget(self, chunk_ms: float) -> None:
        self.budget.setValue(chunk_ms)

    def set_values(
        self,
        times: np.ndarray,
        proc_ms: np.ndarray,
        text: LatencyText,
        warnings: Sequence[str],
        chunk_ms: float,
    ) -> None:
        self.curve.setData(times, proc_ms)
        peak = float(proc_ms.max()) if proc_ms.size else 0.0
        top = max(2.0 * chunk_ms, 10.0 * np.ceil(peak * 1.1 / 10.0))  # steps: axis is redrawn less
        if top != self._top:
            self._top = top
            self.plot.setYRange(0, top, padding=0)
        if times.size:
            self.plot.setXRange(float(times[0]), float(times[-1]) + 1e-3, padding=0)
        self.budget.setValue(chunk_ms)
        for key, label in self.fields.items():
            label.setText(getattr(text, key))
        self.warning.setText("\n".join(f"⚠ {w}" for w in warnings))
