"""The main window: controls on the left, live views on the right, errors in a banner.

Threads and processes: the window lives on the Qt thread. An
:class:`~rtaudio.gui.session.EngineSession` runs the engine in a process of its own (started
from a helper thread), so drawing never delays it. A :class:`QTimer` (every ``TICK_MS``) takes
in what the engine sent without waiting, feeds the view models and redraws. Live controls (play
/ mute, input / separated, record, enroll) are sent to the engine; only starting and stopping a
recording wait for its answer (the file names). Nothing on the Qt thread waits on inference.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from PySide6.QtCore import QByteArray, QFile, QMimeData, QSettings, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from rtaudio import avfile
from rtaudio.audiofile import (
    AUDIO_EXTENSIONS,
    AudioFileError,
    check_enrollment,
    probe,
    read_audio,
)
from rtaudio.bench_loopback import SPACING_S, summary_line
from rtaudio.config import SAMPLE_RATE, ConfigError
from rtaudio.devices import DeviceError, list_devices, play_clip, refresh, stop_clip
from rtaudio.gui.session import EngineSession, describe
from rtaudio.gui.settings import INPUT_RATES, GuiSettings, open_settings
from rtaudio.gui.viewmodels import (
    LabelsModel,
    LatencyModel,
    SpectrogramModel,
    WaveformModel,
    countdown_text,
    kept_enrollments,
)
from rtaudio.gui.widgets import (
    LatencyPanel,
    LevelMeter,
    ScoreBars,
    SpectrogramView,
    TimelineView,
    WaveformView,
)
from rtaudio.levels import LevelModel
from rtaudio.pulse import Changes, default_name
from rtaudio.remote import warm_up
from rtaudio.weights import quality

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
CHIRPS = 8  # per round-trip measurement
SOUND_FILES = (
    f"Sound files ({' '.join('*' + e for e in AUDIO_EXTENSIONS + avfile.VIDEO_EXTENSIONS)})"
    ";;All files (*)"
)

SEPARATION_CHOICES = (
    ("Off", "off"),
    ("Voice from background (MiTAS)", "mitas"),
    ("Target speaker (TseNet)", "tsenet"),
)
BANNER_STYLES = {
    "error": "background: #fdecea; color: #8a1c1c; border: 1px solid #e0a0a0;",
    "warning": "background: #fff8e1; color: #6d4c00; border: 1px solid #e6c66a;",
    "info": "background: #e8f4fd; color: #0b3d63; border: 1px solid #9cc7ea;",
}


def _short(path: str) -> str:
    """``~/x`` for paths in the home directory."""
    home = str(Path.home())
    return "~" + path[len(home) :] if path.startswith(home + "/") else path


def dropped_file(mime: QMimeData) -> str | None:
    """The first local file of a drag (a file manager's), or None."""
    for url in mime.urls() if mime.hasUrls() else []:
        if url.isLocalFile():
            return str(url.toLocalFile())
    return None


def guarded(method: F) -> F:
    """A slot that shows any exception in the window instead of letting it escape."""

    @functools.wraps(method)
    def wrapper(self: MainWindow, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as e:
            log.exception("GUI action %s failed", method.__name__)
            self.show_message(describe(e), "error")
            return None

    return cast(F, wrapper)


class MainWindow(QMainWindow):
    """The rtaudio desktop window.

    Args:
        store: where settings persist (default: the user's QSettings for rtaudio-gui).
        persist: save settings on start / close (off for screenshots and demos).
        threads: torch threads for the engine's worker.
    """

    TICK_MS = 66  # ~15 redraws a second: smooth, and leaves most of the CPU to the engine
    VIEW_S = 6.0  # seconds of history in the waveform, spectrogram and timeline

    def __init__(
        self, store: QSettings | None = None, persist: bool = True, threads: int = 1
    ) -> None:
        super().__init__()
        self.setWindowTitle("rtaudio — live audio labels, separation and latency")
        self.setAcceptDrops(True)  # a sound file dropped on the window: see dropEvent
        self.store = store if store is not None else open_settings()
        self.persist = persist
        self.threads = threads
        self.settings = GuiSettings.load(self.store)
        self.session: EngineSession | None = None
        self.recorded: list[Path] = []  # every WAV written in this window
        self.last_state = "idle"
        self.latest_played = "none"  # what the output played last: input | separated | muted
        self.separator_gain_db: float | None = None  # the leveller's gain, latest chunk
        self._engine_message = ""
        self._enrollment_saved: Path | None = None  # the engine's last kept enrollment
        self._round_trips_seen = 0  # round-trip measurements of this session shown
        self.waveform = WaveformModel(self.VIEW_S)
        self.level = LevelModel()
        self.spectrogram = SpectrogramModel(frames=int(self.VIEW_S * 100))
        self.labels = LabelsModel()
        self.latency = LatencyModel(self.settings.chunk_ms)
        self._build()
        self._load_widgets()
        self.server_changes = Changes(all_changes=True)  # the pickers follow the sound server
        self.refresh_devices(rescan=False)
        self._sync_enabled()
        self._redraw()
        geometry = self.store.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1360, 900)
        warm_up()  # the engine's process server imports torch while the user sets up
        self.timer = QTimer(self)
        self.timer.setInterval(self.TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    # ------------------------------------------------------------------- layout
    def _build(self) -> None:
        central = QWidget()
        self.setCentralWidget(central)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(8, 6, 8, 4)
        self.banner_frame = QFrame()
        banner_row = QHBoxLayout(self.banner_frame)
        banner_row.setContentsMargins(8, 4, 4, 4)
        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide_message)
        banner_row.addWidget(self.banner, 1)
        banner_row.addWidget(close)
        self.banner_frame.hide()
        outer.addWidget(self.banner_frame)
        body = QHBoxLayout()
        outer.addLayout(body, 1)
        body.addWidget(self._build_controls())
        body.addLayout(self._build_views(), 1)
        self.state_label = QLabel("idle")
        self.models_label = QLabel("")
        self.models_label.setStyleSheet("color: #8a5a00;")
        self.statusBar().addPermanentWidget(self.models_label)
        self.statusBar().addPermanentWidget(self.state_label)

    def _build_controls(self) -> QWidget:
        panel = QWidget()
        panel.setFixedWidth(340)
        col = QVBoxLayout(panel)
        col.setContentsMargins(0, 0, 0, 0)

        audio = QGroupBox("Audio")
        form = QFormLayout(audio)
        self.input_combo = QComboBox()
        self.output_combo = QComboBox()
        for combo in (self.input_combo, self.output_combo):
            combo.setMinimumContentsLength(16)
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
        # a choice while running switches the live stream (the engine reopens it)
        self.input_combo.activated.connect(lambda _i: self._device_chosen("input"))
        self.output_combo.activated.connect(lambda _i: self._device_chosen("output"))
        self.refresh_button = QPushButton("Refresh devices")
        self.refresh_button.clicked.connect(lambda: self.refresh_devices(rescan=True))
        self.rate_combo = QComboBox()
        for rate in INPUT_RATES:
            self.rate_combo.addItem("device default" if rate == 0 else f"{rate} Hz", rate)
        self.channel_spin = QSpinBox()
        self.channel_spin.setRange(0, 64)
        self.channel_spin.setSpecialValueText("mono mix")
        self.channel_spin.setToolTip(
            "Take one channel of the input device or file (a microphone on input 2 of an "
            "interface); the mono mix by default"
        )
        self.source_label = QLabel("")
        self.source_label.setWordWrap(True)
        self.open_button = QPushButton("Open file…")
        self.open_button.clicked.connect(lambda: self._choose_source())
        self.mic_button = QPushButton("Use microphone")
        self.mic_button.clicked.connect(lambda: self.use_microphone())
        src_buttons = QHBoxLayout()
        src_buttons.addWidget(self.open_button)
        src_buttons.addWidget(self.mic_button)
        form.addRow("Input", self.input_combo)
        form.addRow("Output", self.output_combo)
        form.addRow("Channel", self.channel_spin)
        form.addRow("Rate", self.rate_combo)
        form.addRow("", self.refresh_button)
        form.addRow("Source", self.source_label)
        form.addRow("", src_buttons)
        col.addWidget(audio)

        proc = QGroupBox("Processing")
        form = QFormLayout(proc)
        self.chunk_spin = QSpinBox()
        self.chunk_spin.setRange(1, 1000)
        self.chunk_spin.setSuffix(" ms")
        self.lookahead_spin = QSpinBox()
        self.lookahead_spin.setRange(0, 500)
        self.lookahead_spin.setSingleStep(10)
        self.lookahead_spin.setSuffix(" ms")
        form.addRow("Chunk", self.chunk_spin)
        form.addRow("Label lookahead", self.lookahead_spin)
        col.addWidget(proc)

        sep = self.separation_box = QGroupBox("Separation")
        form = QFormLayout(sep)
        self.separate_combo = QComboBox()
        for text, key in SEPARATION_CHOICES:
            self.separate_combo.addItem(text, key)
        self.separate_combo.currentIndexChanged.connect(self._separation_changed)
        form.addRow("Mode", self.separate_combo)
        self.separation_quality = QLabel("")
        self.separation_quality.setWordWrap(True)
        self.separation_quality.setToolTip(
            "Measured when the shipped weights were trained, on mixtures of sources they never "
            "heard (the model card beside the weights has the details)"
        )
        form.addRow("", self.separation_quality)
        self.level_check = QCheckBox("Level the input to -25 dBFS")
        self.level_check.setToolTip(
            "The separators were trained on input at about -45..-14 dBFS: a causal gain brings "
            "the microphone there and is undone on the separated voice (applies at Start)"
        )
        form.addRow("Level", self.level_check)
        self.enroll_seconds_spin = QDoubleSpinBox()
        self.enroll_seconds_spin.setRange(0.5, 30.0)
        self.enroll_seconds_spin.setSingleStep(0.5)
        self.enroll_seconds_spin.setDecimals(1)
        self.enroll_seconds_spin.setSuffix(" s")
        self.enroll_seconds_spin.valueChanged.connect(self._enroll_seconds_changed)
        self.enroll_record_button = QPushButton("Enroll from mic")
        self.enroll_record_button.clicked.connect(lambda: self.record_enrollment())
        self.enroll_load_button = QPushButton("Load clip…")
        self.enroll_load_button.clicked.connect(lambda: self._choose_enrollment())
        enroll_row = QHBoxLayout()
        enroll_row.addWidget(self.enroll_record_button)
        enroll_row.addWidget(self.enroll_seconds_spin)
        enroll_row.addWidget(self.enroll_load_button)
        form.addRow("Enroll", enroll_row)
        self.target_combo = QComboBox()
        self.target_combo.setToolTip(
            "The target speaker: a clip kept from an earlier enrollment, a loaded file, or "
            "a recording of the mic at the next Start"
        )
        self.target_combo.activated.connect(self._target_chosen)
        self.forget_button = QPushButton("Forget")
        self.forget_button.setToolTip(
            "Move this kept enrollment to the trash (a loaded file is only taken off the list)"
        )
        self.forget_button.clicked.connect(lambda: self.forget_enrollment())
        self.listen_button = QToolButton()
        self.listen_button.setText("▶")
        self.listen_button.setToolTip("Listen to the target clip on the output device")
        self.listen_button.clicked.connect(lambda: self.listen_target())
        target_row = QHBoxLayout()
        target_row.addWidget(self.target_combo, 1)
        target_row.addWidget(self.listen_button)
        target_row.addWidget(self.forget_button)
        form.addRow("Target", target_row)
        self.enroll_label = QLabel("")  # the countdown while enrolling from the input
        self.enroll_label.setWordWrap(True)
        form.addRow("", self.enroll_label)
        self.play_check = QCheckBox("Play through the output device")
        self.play_check.toggled.connect(self.set_play)
        form.addRow("Playback", self.play_check)
        self.hear_input = QRadioButton("Input")
        self.hear_separated = QRadioButton("Separated")
        self.hear_removed = QRadioButton("Removed")
        self.hear_buttons = {
            "input": self.hear_input,
            "separated": self.hear_separated,
            "removed": self.hear_removed,
        }
        tips = {
            "input": "the input, as the microphone or file gives it",
            "separated": "the separated voice",
            "removed": "what the separator took away: the input minus the voice",
        }
        for what, button in self.hear_buttons.items():  # keys I / S / R, as in the monitor
            key = what[0].upper()
            button.setShortcut(QKeySequence(key))
            button.setToolTip(f"{tips[what]} (key {key})")
        self.hear_group = QButtonGroup(self)
        hear_row = QHBoxLayout()
        for what, button in self.hear_buttons.items():
            self.hear_group.addButton(button)
            button.toggled.connect(functools.partial(self._hear_toggled, what))
            hear_row.addWidget(button)
        hear_row.addStretch(1)
        form.addRow("Hear (A/B)", hear_row)
        col.addWidget(sep)

        run = QGroupBox("Run")
        box = QVBoxLayout(run)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("▶ Start")
        self.start_button.clicked.connect(lambda: self.start())
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.clicked.connect(lambda: self.stop())
        self.record_button = QPushButton("● Record")
        self.record_button.setCheckable(True)
        self.record_button.toggled.connect(self.set_recording)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.record_button)
        box.addLayout(buttons)
        rec_row = QHBoxLayout()
        self.record_dir_label = QLabel("")
        self.record_dir_label.setWordWrap(True)
        self.record_dir_label.setStyleSheet("color: #555;")
        folder = QPushButton("Folder…")
        folder.clicked.connect(lambda: self._choose_record_dir())
        rec_row.addWidget(self.record_dir_label, 1)
        rec_row.addWidget(folder)
        box.addLayout(rec_row)
        col.addWidget(run)
        col.addStretch(1)
        return panel

    def _build_views(self) -> QVBoxLayout:
        col = QVBoxLayout()
        col.setSpacing(4)
        self.waveform_view = WaveformView()
        self.spectrogram_view = SpectrogramView()
        self.spectrogram_view.set_frequency_ticks(self.spectrogram.frequency_ticks())
        self.timeline_view = TimelineView()
        self.waveform_view.setXLink(self.timeline_view)
        self.spectrogram_view.setXLink(self.timeline_view)
        self.waveform_view.setMinimumHeight(90)
        self.spectrogram_view.setMinimumHeight(140)
        self.timeline_view.setMinimumHeight(120)
        col.addWidget(self.waveform_view, 2)
        spec_row = QHBoxLayout()
        spec_row.addWidget(QLabel("Spectrogram of"))
        self.show_input_spec = QRadioButton("Input")
        self.show_voice_spec = QRadioButton("Separated voice")
        self.spec_group = QButtonGroup(self)
        for button, which in ((self.show_input_spec, "input"), (self.show_voice_spec, "voice")):
            self.spec_group.addButton(button)
            button.toggled.connect(functools.partial(self._spectrogram_toggled, which))
            spec_row.addWidget(button)
        spec_row.addSpacing(32)
        spec_row.addWidget(QLabel("Input level"))
        self.level_meter = LevelMeter()
        self.level_meter.setToolTip(
            "RMS of the last 0.3 s (bar) and peak of the last 1.5 s (tick) of the 16 kHz input "
            "the models get, in dBFS; CLIP: the device reached full scale in the last 3 s"
        )
        spec_row.addWidget(self.level_meter, 1)
        col.addLayout(spec_row)
        col.addWidget(self.spectrogram_view, 3)
        labels = QHBoxLayout()
        swish = QGroupBox(f"SwishNet: speech / music / noise  ({quality('swishnet')})")
        swish_col = QVBoxLayout(swish)
        self.swishnet_head = QLabel("waiting for audio")
        self.swishnet_bars = ScoreBars(3)
        swish_col.addWidget(self.swishnet_head)
        swish_col.addWidget(self.swishnet_bars)
        swish_col.addStretch(1)
        events = QGroupBox(f"ESResNet: top sound events  ({quality('esresnet')})")
        events_col = QVBoxLayout(events)
        self.esresnet_head = QLabel("waiting for audio")
        self.esresnet_bars = ScoreBars(5)
        events_col.addWidget(self.esresnet_head)
        events_col.addWidget(self.esresnet_bars)
        events_col.addStretch(1)
        for head in (self.swishnet_head, self.esresnet_head):
            head.setStyleSheet("font-weight: bold;")
        labels.addWidget(swish, 1)
        labels.addWidget(events, 1)
        col.addLayout(labels)
        col.addWidget(self.timeline_view, 2)
        latency = QGroupBox("Latency")
        lat_col = QVBoxLayout(latency)
        lat_col.setContentsMargins(6, 4, 6, 4)
        self.latency_panel = LatencyPanel()
        self.latency_panel.measure_button.clicked.connect(lambda: self.measure_round_trip())
        lat_col.addWidget(self.latency_panel)
        latency.setMaximumHeight(220)
        self._plots = (
            self.waveform_view,
            self.spectrogram_view,
            self.timeline_view,
            self.latency_panel.plot,
        )
        col.addWidget(latency, 2)
        return col

    # --------------------------------------------------------- settings <-> UI
    def _load_widgets(self) -> None:
        s = self.settings
        self.rate_combo.setCurrentIndex(max(0, self.rate_combo.findData(s.input_rate)))
        self.channel_spin.setValue(s.input_channel)
        self.chunk_spin.setValue(s.chunk_ms)
        self.lookahead_spin.setValue(s.lookahead_ms)
        self.separate_combo.setCurrentIndex(max(0, self.separate_combo.findData(s.separate)))
        self._show_separation_quality()
        self.enroll_seconds_spin.setValue(s.enroll_seconds)
        self.play_check.setChecked(s.play)
        self.level_check.setChecked(s.level_separator)
        self.hear_buttons.get(s.monitor, self.hear_separated).setChecked(True)
        spec = self.show_voice_spec if s.spectrogram == "voice" else self.show_input_spec
        spec.setChecked(True)
        self._show_source()
        self._show_enrollment()
        self.record_dir_label.setText(f"to {_short(s.record_dir)}")

    def _read_widgets(self) -> None:
        s = self.settings
        s.input_device = str(self.input_combo.currentData() or "")
        s.output_device = str(self.output_combo.currentData() or "")
        s.input_rate = int(self.rate_combo.currentData() or 0)
        s.input_channel = self.channel_spin.value()
        s.chunk_ms = self.chunk_spin.value()
        s.lookahead_ms = self.lookahead_spin.value()
        s.separate = str(self.separate_combo.currentData())
        s.enroll_seconds = self.enroll_seconds_spin.value()
        s.play = self.play_check.isChecked()
        s.level_separator = self.level_check.isChecked()
        s.monitor = next(w for w, b in self.hear_buttons.items() if b.isChecked())
        s.spectrogram = "voice" if self.show_voice_spec.isChecked() else "input"

    def save_settings(self) -> None:
        self._read_widgets()
        if self.persist:
            self.settings.save(self.store)
            self.store.setValue("window/geometry", self.saveGeometry())
            self.store.sync()

    def _show_source(self) -> None:
        src = self.settings.source
        if src:
            self.source_label.setText(f"file: {Path(src).name}")
            self.source_label.setToolTip(src)
        else:
            self.source_label.setText("microphone (input device)")
            self.source_label.setToolTip("")
        self._sync_enabled()  # a file is read at its own rate

    @guarded
    def measure_round_trip(self) -> None:
        """Time chirps from the output back to the input (rtaudio.bench_loopback)."""
        s = self.session
        if s is None or not s.cfg.play or s.cfg.source:
            self.show_message(
                "The round trip is measured while running from the microphone with playback on",
                "error",
            )
            return
        self._round_trips_seen = s.engine.round_trips
        s.engine.measure_round_trip(CHIRPS)
        self.latency_panel.round_trip.setText(f"measuring for {CHIRPS * SPACING_S:.0f} s…")
        self.latency_panel.measure_button.setEnabled(False)
        self.show_message(
            "Measuring the round trip: the output must be connected back to the input (a "
            "cable, or the output's monitor chosen as the input); chirps play in place of the "
            "output meanwhile",
            "info",
        )

    def _show_round_trip(self, s: EngineSession) -> None:
        report = s.engine.round_trip
        if s.engine.round_trips > self._round_trips_seen and report is not None:
            self._round_trips_seen = s.engine.round_trips
            self.latency_panel.round_trip.setText(summary_line(report))
            self._sync_enabled()

    def _enrollments_dir(self) -> Path:
        """Where enrollments taken from the microphone are kept: ``enrollments/`` beside the
        settings."""
        return Path(self.store.fileName()).parent / "enrollments"

    def _enrollment_path(self) -> Path:
        """A new file for the engine to keep an enrollment taken from the microphone in, so
        the next Start uses it instead of asking the speaker again."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return self._enrollments_dir() / f"enrollment-{stamp}.wav"

    def _keep_enrollment(self, s: EngineSession) -> None:
        saved = s.engine.enrollment_saved
        if saved is not None and saved != self._enrollment_saved:
            self._enrollment_saved = saved
            self.settings.enroll_wav = str(saved)
            self.save_settings()
            self._fill_targets()

    def _fill_targets(self) -> None:
        """The Target list: recording at Start, the kept enrollments (newest first), and a
        loaded file; the current target selected."""
        combo = self.target_combo
        current = self.settings.enroll_wav
        combo.clear()
        combo.addItem(self._record_at_start_text(), "")
        for kept in kept_enrollments(self._enrollments_dir()):
            combo.addItem(kept.text, str(kept.path))
            combo.setItemData(combo.count() - 1, str(kept.path), Qt.ItemDataRole.ToolTipRole)
        if current and combo.findData(current) < 0:
            combo.addItem(f"file: {Path(current).name}", current)
            combo.setItemData(combo.count() - 1, current, Qt.ItemDataRole.ToolTipRole)
        combo.setCurrentIndex(max(0, combo.findData(current)))
        self._sync_enabled()

    def _record_at_start_text(self) -> str:
        return f"record {self.enroll_seconds_spin.value():g} s at Start"

    def _enroll_seconds_changed(self) -> None:
        self.target_combo.setItemText(0, self._record_at_start_text())

    def target_name(self) -> str:
        """What the Target list shows (the chosen target)."""
        return self.target_combo.currentText()

    @guarded
    def _target_chosen(self, index: int) -> None:
        path = str(self.target_combo.itemData(index) or "")
        if path == self.settings.enroll_wav:
            return
        if not path:
            self.settings.enroll_wav = ""
            self.statusBar().showMessage("the target speaker is recorded at the next Start", 5000)
        elif not self.load_enrollment(path):
            self._fill_targets()  # back to the target in use
            return
        self.save_settings()
        self._sync_enabled()

    @guarded
    def listen_target(self) -> None:
        """Play the target clip on the chosen output device (to check what TseNet listens
        for: the right voice, no noise), without waiting."""
        path = self.settings.enroll_wav
        if not path:
            return
        try:
            audio = read_audio(path)
            device = str(self.output_combo.currentData() or "") or None
            seconds = play_clip(audio, SAMPLE_RATE, device)
        except (AudioFileError, DeviceError) as e:
            self.show_message(f"Cannot play the target clip: {e}", "error")
            return
        self.statusBar().showMessage(f"playing {Path(path).name} ({seconds:.1f} s)", 5000)

    @guarded
    def forget_enrollment(self) -> None:
        """Take the chosen target off the list: a kept enrollment goes to the trash (never
        deleted outright); a loaded file is left where it is."""
        path = self.settings.enroll_wav
        if not path:
            return
        p = Path(path)
        if p.parent == self._enrollments_dir() and p.exists():
            # Qt's freedesktop trash needs the data folder (~/.local/share) to exist
            data = QStandardPaths.writableLocation(
                QStandardPaths.StandardLocation.GenericDataLocation
            )
            if data:
                Path(data).mkdir(parents=True, exist_ok=True)
            if not QFile(str(p)).moveToTrash():
                self.show_message(
                    f"Could not move {p} to the trash; it is still the target (delete it by "
                    "hand if you want it gone)",
                    "error",
                )
                return
            note = f"{p.name} moved to the trash"
        else:
            note = f"{p.name} is no longer the target (the file itself is kept)"
        self.settings.enroll_wav = ""
        self.save_settings()
        self._fill_targets()
        self.statusBar().showMessage(note, 8000)

    def _show_enrollment(self) -> None:
        if self.session is not None and self.session.engine.enrollment is not None:
            self.enroll_label.setText(countdown_text(self.session.engine.enrollment))
            self.enroll_label.setStyleSheet("color: #c62828; font-weight: bold;")
            self.enroll_label.setVisible(True)
            return
        self.enroll_label.setText("")
        self.enroll_label.setVisible(False)
        if self.target_combo.currentData() != self.settings.enroll_wav:
            self._fill_targets()

    # ------------------------------------------------------------- devices
    @guarded
    def refresh_devices(self, rescan: bool = True) -> None:
        """Fill the device pickers, keeping what is picked (``rescan``: ask PortAudio to look
        for new devices; not while running, as that closes every stream)."""
        if self.session is not None and rescan:
            return
        chosen = (
            self.input_combo.currentData() or self.settings.input_device,
            self.output_combo.currentData() or self.settings.output_device,
        )
        for combo, kind in ((self.input_combo, "input"), (self.output_combo, "output")):
            combo.clear()
            reached = default_name(kind)  # the sound server's default source / sink, if any
            combo.addItem(f"system default ({reached})" if reached else "system default", "")
        try:
            if rescan:
                refresh()
            devices = list_devices()
        except DeviceError as e:
            devices = []
            self.show_message(f"Audio devices unavailable: {e}", "error")
        shown = [d.description or d.name for d in devices if d.pulse]
        for d in devices:
            text = d.name
            if d.pulse:  # the server's words for it, and its name where those are not enough
                label = d.description or d.name
                text = f"{label} ({'sound server' if shown.count(label) == 1 else d.name})"
            if d.max_input_channels > 0:
                self.input_combo.addItem(text, d.name)
            if d.max_output_channels > 0:
                self.output_combo.addItem(text, d.name)
        for combo, name in zip((self.input_combo, self.output_combo), chosen, strict=True):
            self._select_device(combo, str(name or ""))
        if rescan and devices:
            self.statusBar().showMessage(f"{len(devices)} audio devices found", 4000)

    def _follow_server(self) -> None:
        """A source / sink of the sound server came or went, or a default changed: the pickers
        show it within a tick, while running too (not under the user's hand: a list they have
        open is refilled once it closes)."""
        combos = (self.input_combo, self.output_combo)
        if not any(c.view().isVisible() for c in combos) and self.server_changes.take():
            self.refresh_devices(rescan=False)

    def _select_device(self, combo: QComboBox, name: str) -> None:
        i = combo.findData(name)
        if i < 0:  # remembered but gone: keep it visible; Start will say what is wrong
            combo.addItem(f"{name} (not found)", name)
            i = combo.count() - 1
        combo.setCurrentIndex(i)

    @guarded
    def _device_chosen(self, kind: str) -> None:
        s = self.session
        if s is None or not s.active:
            return  # idle: the choice applies at the next start
        combo = self.input_combo if kind == "input" else self.output_combo
        name = str(combo.currentData() or "") or None
        if kind == "input":
            s.engine.switch_input(name)
        else:
            s.engine.switch_output(name)
        self.statusBar().showMessage(f"switching {kind} to {combo.currentText()}…", 4000)

    def set_input_device(self, name: str) -> None:
        self._select_device(self.input_combo, name)

    def set_output_device(self, name: str) -> None:
        self._select_device(self.output_combo, name)

    # ------------------------------------------------------------- sources
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_file(event.mimeData()) is not None:
            event.acceptProposedAction()

    @guarded
    def dropEvent(self, event: QDropEvent) -> None:
        """A file dropped on the window becomes the source; dropped on the Separation box
        while the target speaker's voice is extracted (TseNet), the target's clip."""
        path = dropped_file(event.mimeData())
        if path is None:
            return
        event.acceptProposedAction()
        at = self.separation_box.mapFrom(self, event.position().toPoint())
        if self.settings.separate == "tsenet" and self.separation_box.rect().contains(at):
            self.load_enrollment(path)
        else:
            self.open_source(path)

    def _choose_source(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open a sound file as the source",
            str(Path(self.settings.source).parent) if self.settings.source else "",
            SOUND_FILES,
        )
        if path:
            self.open_source(path)

    @guarded
    def open_source(self, path: str) -> bool:
        """Use a sound file as the source (played at real-time pace); restarts if running."""
        try:
            info = probe(path)
        except AudioFileError as e:
            self.show_message(f"Cannot open source: {e}", "error")
            return False
        self.settings.source = str(info.path)
        self._show_source()
        self.statusBar().showMessage(
            f"source: {info.path.name} ({info.duration:.1f} s, {info.sample_rate} Hz)", 5000
        )
        self._restart_if_running()
        return True

    @guarded
    def use_microphone(self) -> None:
        self.settings.source = ""
        self._show_source()
        self._restart_if_running()

    def _restart_if_running(self) -> None:
        if self.session is not None:
            self.stop()
            self.start()

    # ---------------------------------------------------------- separation
    def set_separation(self, mode: str) -> None:
        i = self.separate_combo.findData(mode)
        if i < 0:
            raise ConfigError(f"unknown separation mode {mode!r}")
        self.separate_combo.setCurrentIndex(i)

    def _separation_changed(self) -> None:
        self.settings.separate = str(self.separate_combo.currentData())
        self._show_separation_quality()
        self._sync_enabled()

    def _show_separation_quality(self) -> None:
        mode = self.settings.separate
        self.separation_quality.setText("" if mode == "off" else quality(mode))
        self.separation_quality.setVisible(mode != "off")

    def _choose_enrollment(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Target speaker clip", "", SOUND_FILES)
        if path:
            self.load_enrollment(path)

    @guarded
    def load_enrollment(self, path: str) -> bool:
        """Use a clip of the target speaker (checked now; applied live if running)."""
        try:
            audio = read_audio(path)
            check_enrollment(audio)
        except (AudioFileError, ConfigError) as e:
            self.show_message(f"Enrollment file rejected: {e}", "error")
            return False
        self.settings.enroll_wav = str(Path(path).resolve())
        if self.session is not None and self.session.cfg.separate == "tsenet":
            self.session.engine.request_enrollment(audio=audio)
        self._show_enrollment()
        self.statusBar().showMessage(f"target speaker: {Path(path).name}", 5000)
        return True

    @guarded
    def record_enrollment(self) -> None:
        """Record the target speaker from the input for N seconds, with a countdown."""
        self._read_widgets()
        if self.settings.separate != "tsenet":
            self.show_message("Enrollment is for target-speaker separation (TseNet)", "error")
            return
        self.settings.enroll_wav = ""
        if self.session is not None and self.session.cfg.separate == "tsenet":
            self.session.engine.request_enrollment(seconds=self.settings.enroll_seconds)
        elif self.session is None:
            self.start()
        self._show_enrollment()

    @guarded
    def set_play(self, on: bool) -> None:
        self.settings.play = on
        if self.session is not None:
            if self.session.cfg.play:
                self.session.engine.muted = not on
            elif on:
                self.statusBar().showMessage("playback starts with the next Start", 5000)

    def set_spectrogram(self, which: str) -> None:
        """Show the spectrogram of the ``input`` or of the separated ``voice``."""
        self.settings.spectrogram = which
        button = self.show_voice_spec if which == "voice" else self.show_input_spec
        if not button.isChecked():
            button.setChecked(True)
        self._redraw()

    def _hear_toggled(self, what: str, on: bool) -> None:
        if on:
            self.set_monitor(what)

    def _spectrogram_toggled(self, which: str, on: bool) -> None:
        if on:
            self.set_spectrogram(which)

    def spectrogram_shown(self) -> str:
        """``voice`` when it is chosen and there is a separated voice to show, else ``input``."""
        voice = self.settings.spectrogram == "voice" and self.spectrogram.has_voice
        return "voice" if voice else "input"

    @guarded
    def set_monitor(self, what: str) -> None:
        """What the output plays: the ``input``, the ``separated`` voice or what the separator
        ``removed``."""
        self.settings.monitor = what
        button = self.hear_buttons[what]
        if not button.isChecked():
            button.setChecked(True)
        if self.session is not None:
            self.session.engine.set_monitor(what)

    # ------------------------------------------------------------ recording
    def _choose_record_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Record into", self.settings.record_dir)
        if path:
            self.set_record_dir(path)

    def set_record_dir(self, path: str) -> None:
        self.settings.record_dir = path
        self.record_dir_label.setText(f"to {_short(path)}")

    @guarded
    def set_recording(self, on: bool) -> None:
        """Record WAVs of the input (and separated voice); live if running, else at Start."""
        if self.record_button.isChecked() != on:
            self.record_button.setChecked(on)  # re-enters through the toggled signal
            return
        if self.session is None or not self.session.active:
            if on:
                self.statusBar().showMessage("recording starts with Start", 4000)
            return
        engine = self.session.engine
        if on:
            try:
                paths = engine.start_recording(self.settings.record_dir, "both")
            except OSError as e:
                self.show_message(f"Cannot record: {e}", "error")
                self.record_button.setChecked(False)
                return
            self.statusBar().showMessage(
                "recording: " + ", ".join(str(p) for p in paths.values()), 5000
            )
        else:
            tracks = dict(engine.label_tracks)
            self._recorded(engine.stop_recording(), tracks)

    def _recorded(self, paths: dict[str, Path], tracks: dict[str, Path] | None = None) -> None:
        new = [p for p in paths.values() if p not in self.recorded]
        if new:
            self.recorded.extend(new)
            saved = [str(p) for p in paths.values()]
            saved += [f"{p.name} (label track)" for p in (tracks or {}).values() if p.exists()]
            self.statusBar().showMessage("saved " + ", ".join(saved), 8000)

    # -------------------------------------------------------------- start/stop
    @guarded
    def start(self) -> None:
        if self.session is not None:
            return
        self._read_widgets()
        try:
            cfg = self.settings.engine_config(
                record=self.record_button.isChecked(), enroll_save=str(self._enrollment_path())
            )
        except ConfigError as e:
            self.show_message(f"Bad settings: {e}", "error")
            return
        self.save_settings()
        self.hide_message()
        self._engine_message = ""
        self.waveform.clear()
        self.level.clear()
        self.spectrogram.clear()
        self.labels.clear()
        self.latency.reset(cfg.chunk_ms, cfg.max_backlog_ms)
        self.latest_played = "none"
        self.separator_gain_db = None
        self.session = EngineSession(cfg, threads=self.threads)
        self._round_trips_seen = 0  # a new engine counts from 0
        self.session.engine.monitor = self.settings.monitor
        self.session.engine.muted = not self.settings.play
        self.session.start()
        self.last_state = "starting"
        self._sync_enabled()
        self._show_status()

    @guarded
    def stop(self) -> None:
        if self.session is None:
            return
        self._end_session()

    def _end_session(self) -> None:
        session = self.session
        assert session is not None
        session.stop()
        self._consume(session.drain(), session)
        if session.cfg.record_dir or self.record_button.isChecked():
            engine = session.engine
            self._recorded(
                {k: p for k, p in engine.recordings.items() if p.exists()}, engine.label_tracks
            )
        self.session = None
        self.record_button.blockSignals(True)
        self.record_button.setChecked(False)
        self.record_button.blockSignals(False)
        self._sync_enabled()
        self._show_enrollment()
        self._show_status()
        cut = session.engine.enrollment_note()  # stopped while taking the target from the mic
        if cut:
            self.show_message(cut[0].upper() + cut[1:], "warning")

    def _sync_enabled(self) -> None:
        idle = self.session is None
        # while running, the devices in use can be switched (a microphone input; an output
        # that is open because playback was on at the start)
        session = self.session
        self.input_combo.setEnabled(session is None or not session.cfg.source)
        self.output_combo.setEnabled(session is None or session.cfg.play)
        self.rate_combo.setEnabled(idle and not self.settings.source)
        for w in (
            self.channel_spin,
            self.refresh_button,
            self.chunk_spin,
            self.lookahead_spin,
            self.separate_combo,
            self.start_button,
        ):
            w.setEnabled(idle)
        self.stop_button.setEnabled(not idle)
        self.latency_panel.measure_button.setEnabled(
            session is not None
            and session.cfg.play
            and not session.cfg.source  # a file never hears the output
            and not session.engine.measuring
        )
        tsenet = str(self.separate_combo.currentData()) == "tsenet"
        separating = str(self.separate_combo.currentData()) != "off"
        if not idle:
            assert self.session is not None
            tsenet = self.session.cfg.separate == "tsenet"
            separating = self.session.cfg.separate != "off"
        for enroll_widget in (
            self.enroll_record_button,
            self.enroll_load_button,
            self.enroll_seconds_spin,
            self.target_combo,
        ):
            enroll_widget.setEnabled(tsenet)
        self.forget_button.setEnabled(tsenet and bool(self.settings.enroll_wav))
        self.listen_button.setEnabled(tsenet and bool(self.settings.enroll_wav))
        self.level_check.setEnabled(idle and separating)
        for button in self.hear_buttons.values():
            button.setEnabled(separating)
        self.show_input_spec.setEnabled(separating)
        self.show_voice_spec.setEnabled(separating)

    # -------------------------------------------------------------- messages
    def show_message(self, text: str, level: str = "error") -> None:
        """Show ``text`` in the banner above the views (never a blocking dialog)."""
        self.banner.setText(text)
        self.banner_frame.setStyleSheet(f"QFrame {{ {BANNER_STYLES[level]} }}")
        self.banner.setStyleSheet("border: none; background: transparent;")
        self.banner_frame.show()
        self.banner_level = level
        self.statusBar().showMessage(text, 10000)
        if level == "error":
            log.warning("%s", text)

    def hide_message(self) -> None:
        self.banner.setText("")
        self.banner_frame.hide()

    def _show_status(self) -> None:
        s = self.session
        if s is None:
            self.state_label.setText(f"● {self.last_state}")
            return
        st = s.engine.status
        parts = [f"● {s.state}"]
        if st.input_name:
            parts.append(f"{Path(st.input_name).name} @ {st.input_rate} Hz")
        if st.output_name and s.cfg.play:
            played = {
                "separated": "separated voice",
                "removed": "what the separator removed",
            }.get(self.latest_played, self.latest_played)
            parts.append(f"→ {st.output_name} ({played})")
        parts.append(f"{self.labels.now:6.1f} s")
        if self.separator_gain_db is not None:
            parts.append(f"separator input gain {round(self.separator_gain_db):+d} dB")
        kept = self.waveform.voice_vs_input_db()
        if kept is not None:
            parts.append(f"voice {kept:+.1f} dB vs input (1 s)")
        if s.engine.recording:
            parts.append("REC")
        self.state_label.setText("   ".join(parts))

    # ------------------------------------------------------------------ tick
    def _tick(self) -> None:
        try:
            self._follow_server()
            self._poll()
        except Exception as e:  # a view bug must never take the window down
            log.exception("GUI update failed")
            self.show_message(f"display error: {describe(e)}", "error")

    def _poll(self) -> None:
        s = self.session
        if s is None:
            return
        state = s.state
        if state == "failed":
            self.last_state = "failed"
            self._end_session()
            self.show_message(f"Cannot start: {s.error}", "error")
            return
        if state != "starting" and self.last_state == "starting":
            self._started(s)
        self._consume(s.drain(), s)
        message = s.engine.status.message
        if message and message != self._engine_message:
            self._engine_message = message
            bad = any(w in message for w in ("failed", "lost", "stopped"))
            self.show_message(message, "warning" if bad else "info")
        self._keep_enrollment(s)
        self._show_round_trip(s)
        self._show_enrollment()
        self.last_state = state
        if state in ("finished", "error", "stopped"):
            self._end_session()
            if state == "error":
                self.show_message(f"Engine error: {s.engine.status.message}", "error")
            elif state == "finished":
                self.statusBar().showMessage("source finished", 8000)
        self._show_status()

    def _started(self, s: EngineSession) -> None:
        untrained = [k for k, v in s.engine.status.trained.items() if not v]
        self.models_label.setText(
            f"untrained models (no weights yet): {', '.join(untrained)}" if untrained else ""
        )
        self.models_label.setToolTip(
            "These models run with random weights until trained weights are installed: "
            "their labels and separated audio are placeholders."
        )
        if self.record_button.isChecked() and not s.engine.recording:
            self.set_recording(True)

    def _consume(self, results: list[Any], s: EngineSession) -> None:
        if not results:
            return
        self.latest_played = results[-1].played
        self.separator_gain_db = results[-1].separator_gain_db
        self.waveform.update(results)
        self.level.update(results)
        self.spectrogram.update(results)
        self.labels.update(results)
        self.latency.update(results, s.summary())
        if not self.isMinimized():
            self._redraw()

    def _redraw(self) -> None:
        now = max(self.labels.now, self.waveform.now)
        x_range = (now - self.VIEW_S, now + 0.15)
        self.waveform_view.set_envelopes(
            self.waveform.input_envelope(), self.waveform.voice_envelope()
        )
        self.level_meter.set_level(self.level.rms_db, self.level.peak_db, self.level.clipping)
        which = self.spectrogram_shown()
        self.spectrogram_view.set_image(
            self.spectrogram.image(which), self.spectrogram.rect(), self.spectrogram.levels, which
        )
        label, scores = self.labels.swishnet_scores()
        self.swishnet_bars.set_scores(scores, label)
        self.swishnet_head.setText(self._head("swishnet", label))
        label, top = self.labels.top_events()
        self.esresnet_bars.set_scores(top, label)
        self.esresnet_head.setText(self._head("esresnet", label))
        segments = {m: self.labels.segments(m, *x_range) for m in TimelineView.ROWS}
        pending = {}
        for m in TimelineView.ROWS:
            t = self.labels.label_time(m)
            if t is not None:
                pending[m] = (t[0], now)
        self.timeline_view.set_segments(segments, pending, now, x_range)
        times, proc = self.latency.series()
        self.latency_panel.set_values(
            times, proc, self.latency.text(), self.latency.warnings(), self.latency.chunk_ms
        )
        for plot in self._plots:
            # move the views now, not in the coming paint (which would then paint twice)
            plot.getViewBox().updateMatrix()

    def _head(self, model: str, label: str) -> str:
        if not label:
            return "waiting for audio"
        delay = self.labels.delay(model)
        lab = self.labels.latest[model]
        return (
            f"{label.replace('_', ' ')}   [{lab.start:.2f}–{lab.end:.2f} s, "
            f"shown {delay:.2f} s after its end]"
        )

    # ----------------------------------------------------------------- close
    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        self.server_changes.close()
        if self.session is not None:
            self.stop()
        with contextlib.suppress(DeviceError):
            stop_clip()  # a target clip still playing
        try:
            self.save_settings()
        except Exception:  # closing must always work
            log.exception("saving settings failed")
        super().closeEvent(event)
