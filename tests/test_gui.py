"""The desktop window with pytest-qt, offscreen: real engine, real files, the virtual sound card."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QGroupBox, QWidget
from pytestqt.qtbot import QtBot
from signals import best_alignment

from audio_server import pa_env
from rtaudio.audiofile import read_audio
from rtaudio.config import EngineConfig
from rtaudio.engine import Engine
from rtaudio.gui.settings import GuiSettings, open_settings
from rtaudio.gui.window import MainWindow
from rtaudio.weights import quality

EXE = str(Path(sys.executable).with_name("rtaudio"))


def _speech(path: Path, text: str) -> Path:
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-s", "170", "-w", str(raw), text], check=True)
    sf.write(path, read_audio(raw), 16000)
    return path


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("gui-audio")
    speech = _speech(d / "speech.wav", "the window shows labels while the file plays")
    music = d / "music.wav"
    notes = ["C4", "E4", "G4", "C5", "G4", "E4"]
    chain = [a for n in notes for a in ("synth", "0.25", "pluck", n, ":")][:-1]
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(music), *chain], check=True)
    both = d / "speech_music.wav"
    sf.write(both, np.concatenate((read_audio(speech), read_audio(music))), 16000)
    short = d / "short.wav"
    sf.write(short, read_audio(speech)[:3200], 16000)
    text = d / "notes.wav"
    text.write_text("not audio at all")
    return {"speech": speech, "music": music, "both": both, "short": short, "text": text}


def _rtaudio_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rtaudio")]


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    store = open_settings(tmp_path / "settings.ini")
    GuiSettings(record_dir=str(tmp_path / "rec"), lookahead_ms=100).save(store)
    w = MainWindow(open_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()
    end = time.monotonic() + 3
    while _rtaudio_threads() and time.monotonic() < end:
        time.sleep(0.05)
    assert not _rtaudio_threads(), "threads left after the window closed"
    engines = [p for p in multiprocessing.active_children() if p.name == "rtaudio-engine"]
    assert not engines, "engine processes left after the window closed"


def _wait_idle(qtbot: QtBot, w: MainWindow, timeout: int = 15000) -> None:
    qtbot.waitUntil(lambda: w.session is None, timeout=timeout)


def test_window_opens_with_its_controls(window: MainWindow) -> None:
    assert window.isVisible() and "rtaudio" in window.windowTitle()
    assert window.input_combo.itemData(0) == "" and window.output_combo.count() >= 1
    assert window.start_button.isEnabled() and not window.stop_button.isEnabled()
    assert window.chunk_spin.value() == 10 and window.lookahead_spin.value() == 100
    assert not window.enroll_record_button.isEnabled()  # enrollment is for TseNet only
    assert window.level_check.isChecked() and not window.level_check.isEnabled()
    assert window.separation_quality.isHidden()
    window.set_separation("tsenet")
    assert window.enroll_record_button.isEnabled() and window.hear_separated.isEnabled()
    assert window.level_check.isEnabled()
    # each model's held-out result, as its card states it
    assert window.separation_quality.text() == quality("tsenet") != "untrained"
    assert window.separation_quality.text().endswith("dB median SI-SNRi on held-out mixtures")
    window.set_separation("off")
    assert not window.hear_separated.isEnabled() and not window.level_check.isEnabled()
    assert not window.show_voice_spec.isEnabled()  # no separated voice to show
    assert window.separation_quality.isHidden()
    assert window.swishnet_head.text() == "waiting for audio"
    titles = [b.title() for b in window.findChildren(QGroupBox)]
    assert f"SwishNet: speech / music / noise  ({quality('swishnet')})" in titles
    assert f"ESResNet: top sound events  ({quality('esresnet')})" in titles
    axis = window.spectrogram_view.getPlotItem().getAxis("left")  # the bands read in Hz
    assert axis.labelText == "Hz"
    ticks = [label for _, label in axis._tickLevels[0]]
    assert ticks == ["200", "500", "1k", "2k", "4k", "6k"]


def test_file_source_shows_labels_latency_and_records(
    qtbot: QtBot,
    window: MainWindow,
    audio: dict[str, Path],
    tmp_path: Path,
) -> None:
    assert window.open_source(str(audio["both"]))
    window.set_separation("mitas")
    window.record_button.setChecked(True)  # record from Start
    qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
    assert window.session is not None and not window.start_button.isEnabled()
    assert not window.input_combo.isEnabled()  # a file source: no input device to switch
    qtbot.waitUntil(lambda: window.labels.latest.get("esresnet") is not None, timeout=15000)
    # labels: SwishNet bars and ESResNet top events are filled, the timeline has spans
    assert len(window.swishnet_bars.scores()) == 3
    assert sum(v for _, v in window.swishnet_bars.scores()) > 0
    assert len(window.esresnet_bars.scores()) == 5
    assert window.timeline_view.shown["swishnet"]
    assert "after its end" in window.swishnet_head.text()
    assert "separator input gain" in window.state_label.text()  # the leveller is on
    meter = window.level_meter  # the input level: speech and music at about -25 dBFS
    assert -45 < meter.rms_db <= meter.peak_db < 0 and not meter.clipping, meter.text()
    assert meter.text().endswith(f"peak {meter.peak_db:5.1f}")
    # the lookahead is visible: the newest label ends at least 100 ms before "now"
    delay = window.labels.delay("swishnet")
    assert delay is not None and delay >= 0.1 - 1e-6
    # latency panel
    fields = window.latency_panel.fields
    assert fields["percentiles"].text().startswith("p50")
    assert (
        fields["algorithmic"].text().endswith("ms") and "overflows 0" in fields["counters"].text()
    )
    x, _ = window.latency_panel.curve.getData()
    assert x is not None and len(x) > 10
    assert window.waveform.has_voice  # the separated voice is drawn too
    # the spectrogram of the separated voice, on demand, in step with the input's
    assert window.show_voice_spec.isEnabled() and window.spectrogram_shown() == "input"
    window.show_voice_spec.click()
    assert window.settings.spectrogram == "voice" and window.spectrogram_shown() == "voice"
    assert window.spectrogram_view.title == "Log-mel spectrogram: separated voice"
    shown = window.spectrogram_view.image.image
    assert shown is not None and shown.shape == window.spectrogram.image("input").shape
    assert np.abs(window.spectrogram.image("voice") - window.spectrogram.image("input")).max() > 3
    window.show_input_spec.click()
    assert window.spectrogram_view.title == "Log-mel spectrogram: input"
    window.show_voice_spec.click()
    _wait_idle(qtbot, window)
    assert window.last_state == "finished" and window.start_button.isEnabled()
    kinds = sorted(p.name.rsplit("-", 1)[1] for p in window.recorded)
    assert kinds == ["input.wav", "voice.wav"]
    dur = sf.info(str(audio["both"])).duration
    dropped = window.latency.counters["dropped"] * 0.01  # on a busy CPU (never recorded)
    for p in window.recorded:
        assert p.parent == tmp_path / "rec"
        assert abs(sf.info(str(p)).duration + dropped - dur) < 0.05
    assert not window.record_button.isChecked()
    # beside the WAVs, the labels as Audacity label tracks
    tracks = sorted((tmp_path / "rec").glob("*.txt"))
    assert sorted(p.name.rsplit("-", 1)[1] for p in tracks) == ["esresnet.txt", "swishnet.txt"]
    assert all(p.read_text().count("\t") >= 2 for p in tracks)


def test_one_channel_of_a_stereo_source_is_taken(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, audio: dict[str, Path]
) -> None:
    speech = read_audio(audio["speech"])
    tone = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(speech.size) / 16000)).astype(np.float32)
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack((speech, tone), 1), 16000)
    assert window.rate_combo.isEnabled()
    assert window.open_source(str(stereo))
    assert not window.rate_combo.isEnabled()  # a file is read at its own rate
    assert window.channel_spin.text() == "mono mix"
    window.channel_spin.setValue(2)
    window.record_button.setChecked(True)
    qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
    assert not window.channel_spin.isEnabled()  # chosen before the start
    _wait_idle(qtbot, window)
    assert window.last_state == "finished"
    (wav,) = [p for p in window.recorded if p.name.endswith("input.wav")]
    np.testing.assert_allclose(read_audio(wav)[: tone.size], tone, atol=1e-4)
    assert window.channel_spin.isEnabled()
    window.use_microphone()
    assert window.rate_combo.isEnabled()


def test_settings_persist_across_windows(
    qtbot: QtBot, tmp_path: Path, audio: dict[str, Path]
) -> None:
    path = tmp_path / "persist.ini"
    first = MainWindow(open_settings(path))
    qtbot.addWidget(first)
    first.chunk_spin.setValue(20)
    first.lookahead_spin.setValue(300)
    first.set_separation("mitas")
    first.play_check.setChecked(True)
    first.set_monitor("input")
    first.set_spectrogram("voice")
    first.set_input_device("some mic")
    first.channel_spin.setValue(2)
    assert first.open_source(str(audio["speech"]))
    first.set_record_dir(str(tmp_path / "takes"))
    first.resize(1000, 740)
    first.close()
    second = MainWindow(open_settings(path))
    qtbot.addWidget(second)
    assert second.chunk_spin.value() == 20 and second.lookahead_spin.value() == 300
    assert second.separate_combo.currentData() == "mitas"
    assert second.play_check.isChecked() and second.hear_input.isChecked()
    assert second.show_voice_spec.isChecked() and second.settings.spectrogram == "voice"
    assert second.input_combo.currentData() == "some mic"
    assert second.channel_spin.value() == 2 and second.settings.engine_config().input_channel == 2
    assert "(not found)" in second.input_combo.currentText()
    assert second.settings.source == str(audio["speech"])
    assert second.source_label.text() == "file: speech.wav"
    assert second.settings.record_dir == str(tmp_path / "takes")
    # the offscreen screen is 800 px wide, so only the height survives restoreGeometry
    assert open_settings(path).contains("window/geometry")
    assert abs(second.height() - 740) <= 8
    second.close()


def test_bad_source_and_enrollment_files_are_shown(
    window: MainWindow, audio: dict[str, Path]
) -> None:
    assert not window.open_source("/nonexistent/file.wav")
    assert window.banner_frame.isVisible() and "no such file" in window.banner.text()
    window.set_separation("tsenet")
    assert not window.load_enrollment(str(audio["text"]))
    assert "Enrollment file rejected" in window.banner.text()
    assert "not a readable audio file" in window.banner.text()
    assert not window.load_enrollment(str(audio["short"]))
    assert "need at least 0.5 s" in window.banner.text()
    assert window.settings.enroll_wav == ""
    assert window.load_enrollment(str(audio["speech"]))
    assert window.target_name() == "file: speech.wav"
    window.hide_message()
    assert not window.banner_frame.isVisible()


def _drop(window: MainWindow, path: Path | None, where: QWidget | None = None) -> bool:
    """Drag ``path`` (None: some text) over ``where`` (default: the window's middle) and
    drop it there, as a file manager does; whether the window took the drag."""
    mime = QMimeData()
    if path is None:
        mime.setText("not a file")
    else:
        mime.setUrls([QUrl.fromLocalFile(str(path))])
    at = where.mapTo(window, where.rect().center()) if where else window.rect().center()
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(at, Qt.DropAction.CopyAction, mime, buttons, mods)
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, buttons, mods)
    QApplication.sendEvent(window, drop)
    return True


def test_a_file_dropped_on_the_window_is_the_source_or_the_target(
    window: MainWindow, audio: dict[str, Path]
) -> None:
    assert not _drop(window, None)  # text is not taken
    assert _drop(window, audio["speech"])
    assert window.settings.source == str(audio["speech"])
    assert _drop(window, audio["text"])  # taken, and refused in one line
    assert "Cannot open source" in window.banner.text()
    assert window.settings.source == str(audio["speech"])
    window.set_separation("tsenet")
    assert _drop(window, audio["both"], window.separation_box)
    assert window.settings.enroll_wav == str(audio["both"].resolve())
    assert window.settings.source == str(audio["speech"])  # the source stays
    assert _drop(window, audio["music"])  # elsewhere: the source
    assert window.settings.source == str(audio["music"])


def test_errors_at_start_and_while_running_are_shown(
    qtbot: QtBot, window: MainWindow, audio: dict[str, Path], tmp_path: Path
) -> None:
    # an enrollment clip that disappeared before Start
    clip = tmp_path / "target.wav"
    clip.write_bytes(audio["speech"].read_bytes())
    window.set_separation("tsenet")
    assert window.load_enrollment(str(clip))
    clip.unlink()
    assert window.open_source(str(audio["speech"]))
    window.start()
    _wait_idle(qtbot, window)
    assert window.last_state == "failed"
    assert "Cannot start" in window.banner.text() and "no such file" in window.banner.text()
    # a source that breaks while playing: the engine stops with an error, the window stays
    broken = tmp_path / "broken.wav"
    x = read_audio(audio["speech"])
    x[8000:8100] = np.nan
    sf.write(broken, x, 16000, subtype="FLOAT")
    window.set_separation("off")
    assert window.open_source(str(broken))
    window.start()
    _wait_idle(qtbot, window)
    assert window.last_state == "error"
    assert "Engine error" in window.banner.text() and "NaN" in window.banner.text()
    assert window.start_button.isEnabled()


def test_tsenet_with_an_enrollment_wav_separates(
    qtbot: QtBot,
    window: MainWindow,
    audio: dict[str, Path],
) -> None:
    window.set_separation("tsenet")
    window.level_check.setChecked(False)  # the input as it is (the default levels it)
    assert window.load_enrollment(str(audio["speech"]))
    assert window.open_source(str(audio["speech"]))
    window.start()
    assert not window.level_check.isEnabled()  # applies at Start
    qtbot.waitUntil(lambda: window.waveform.has_voice, timeout=15000)
    assert window.session is not None and window.session.cfg.enroll
    qtbot.waitUntil(lambda: " dB vs input (1 s)" in window.state_label.text(), timeout=5000)
    assert not window.session.cfg.level_separator
    assert not GuiSettings.load(window.store).level_separator  # remembered
    # a new clip while running goes to the engine
    assert window.load_enrollment(str(audio["both"]))
    qtbot.waitUntil(
        lambda: "enrolled from the enrollment clip" in window.banner.text(), timeout=5000
    )
    window.stop()
    assert window.session is None and window.last_state in ("running", "finished")


def test_live_enrollment_counts_down_then_separates(
    qtbot: QtBot,
    window: MainWindow,
    audio: dict[str, Path],
) -> None:
    window.set_separation("tsenet")
    window.enroll_seconds_spin.setValue(1.0)
    assert window.open_source(str(audio["both"]))
    qtbot.mouseClick(window.enroll_record_button, Qt.MouseButton.LeftButton)  # starts, enrolls
    assert window.session is not None and window.session.cfg.enroll_seconds == 1.0
    qtbot.waitUntil(lambda: "s left" in window.enroll_label.text(), timeout=10000)
    countdown = [window.enroll_label.text()]
    qtbot.waitUntil(lambda: window.waveform.has_voice, timeout=10000)
    assert "speak now" in countdown[0]
    # the enrollment is kept beside the settings and becomes the target of the next Start
    qtbot.waitUntil(lambda: window.settings.enroll_wav != "", timeout=5000)
    kept = Path(window.settings.enroll_wav)
    assert kept.parent == Path(window.store.fileName()).parent / "enrollments"
    assert window.target_name().endswith(", 1.0 s")  # "Nov 29 09:12:05, 1.0 s"
    assert f"saved as {kept}" in window.banner.text()
    saved, rate = sf.read(kept, dtype="float32")
    assert rate == 16000  # the file source's first second, to 16-bit
    np.testing.assert_allclose(saved, read_audio(audio["both"])[:16000], atol=1 / 32768 + 1e-6)
    window.stop()
    assert GuiSettings.load(window.store).enroll_wav == str(kept)  # remembered
    window.start()
    assert window.session is not None
    assert window.session.cfg.enroll == str(kept) and window.session.cfg.enroll_seconds == 0
    window.stop()


def test_an_enrollment_cut_by_stop_is_said(
    qtbot: QtBot,
    window: MainWindow,
    audio: dict[str, Path],
) -> None:
    """Stop while the target is still being recorded: the window says how much was taken and
    that nothing was separated (it used to clear the countdown and say nothing)."""
    window.set_separation("tsenet")
    window.enroll_seconds_spin.setValue(3.0)
    assert window.open_source(str(audio["both"]))
    qtbot.mouseClick(window.enroll_record_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "s left" in window.enroll_label.text(), timeout=10000)
    window.stop()
    said = window.banner.text()
    assert re.fullmatch(
        r"The enrollment was not complete \([0-9.]+ of 3 s of input\): nothing was separated",
        said,
    ), said
    assert window.banner_level == "warning" and not window.enroll_label.isVisible()
    assert window.settings.enroll_wav == ""  # nothing kept


def test_kept_enrollments_are_listed_chosen_and_forgotten(
    qtbot: QtBot,
    window: MainWindow,
    audio: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the trash Forget uses
    kept = Path(window.store.fileName()).parent / "enrollments"
    kept.mkdir()
    yr = time.localtime().tm_year  # kept this year: no year in the list
    speech = read_audio(audio["speech"])
    for name, seconds in (
        (f"enrollment-{yr}1128-101500.wav", 2.0),
        ("enrollment-19991231-235959.wav", 1.0),
        (f"enrollment-{yr}1129-090000.wav", 3.0),
        (f"enrollment-{yr}1129-090000-2.wav", 1.5),
    ):
        sf.write(kept / name, np.resize(speech, int(seconds * 16000)), 16000)
    (kept / "enrollment-notes.txt").write_text("not a kept enrollment")
    (kept / f"enrollment-{yr}1129-080000.wav").write_bytes(b"RIFF\x00\x00")  # damaged
    window.set_separation("tsenet")
    window._fill_targets()
    combo = window.target_combo
    items = [combo.itemText(i) for i in range(combo.count())]
    assert items == [
        "record 3 s at Start",
        "Nov 29 09:00:00 (2), 1.5 s",
        "Nov 29 09:00:00, 3.0 s",
        "Nov 29 08:00:00, unreadable",
        "Nov 28 10:15:00, 2.0 s",
        "1999 Dec 31 23:59:59, 1.0 s",
    ]
    assert not window.forget_button.isEnabled()  # nothing chosen to forget
    window.enroll_seconds_spin.setValue(2.5)
    assert combo.itemText(0) == "record 2.5 s at Start"
    # choosing one makes it the target, remembered; a damaged one is refused
    combo.activated.emit(2)
    assert window.settings.enroll_wav == str(kept / f"enrollment-{yr}1129-090000.wav")
    assert GuiSettings.load(window.store).enroll_wav == window.settings.enroll_wav
    combo.activated.emit(3)
    assert "Enrollment file rejected" in window.banner.text()
    assert window.target_name() == "Nov 29 09:00:00, 3.0 s"  # still the one in use
    # a loaded file joins the list; Forget takes it off, the file stays
    assert window.load_enrollment(str(audio["speech"]))
    assert window.target_name() == "file: speech.wav" and window.forget_button.isEnabled()
    qtbot.mouseClick(window.forget_button, Qt.MouseButton.LeftButton)
    assert audio["speech"].exists() and window.settings.enroll_wav == ""
    assert window.target_name() == "record 2.5 s at Start"
    assert "file: speech.wav" not in [combo.itemText(i) for i in range(combo.count())]
    # Forget on a kept one moves it to the trash (recoverable), never deletes it
    combo.activated.emit(4)
    assert window.target_name() == "Nov 28 10:15:00, 2.0 s"
    qtbot.mouseClick(window.forget_button, Qt.MouseButton.LeftButton)
    assert not (kept / f"enrollment-{yr}1128-101500.wav").exists()
    trashed = tmp_path / "data" / "Trash" / "files" / f"enrollment-{yr}1128-101500.wav"
    assert sf.read(trashed)[0].size == 32000
    assert combo.count() == 5 and window.settings.enroll_wav == ""
    assert GuiSettings.load(window.store).enroll_wav == ""
    # the chosen kept enrollment is what the next Start uses
    combo.activated.emit(1)
    assert window.open_source(str(audio["both"]))
    window.start()
    assert window.session is not None
    assert window.session.cfg.enroll == str(kept / f"enrollment-{yr}1129-090000-2.wav")
    assert not combo.isEnabled() or window.session.cfg.separate == "tsenet"
    window.stop()
    window.set_separation("mitas")
    assert not combo.isEnabled() and not window.forget_button.isEnabled()


def test_a_crashed_engine_process_is_shown_and_the_window_goes_on(
    qtbot: QtBot, window: MainWindow, audio: dict[str, Path]
) -> None:
    assert window.open_source(str(audio["both"]))
    window.start()
    qtbot.waitUntil(
        lambda: window.session is not None and window.session.state == "running", timeout=15000
    )
    pid = window.session.engine.pid  # type: ignore[union-attr]
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)  # as if it crashed
    _wait_idle(qtbot, window)
    assert window.last_state == "error" and window.start_button.isEnabled()
    assert "Engine error: the engine process ended unexpectedly (signal 9)" in window.banner.text()
    window.start()  # a new process, and labels again
    qtbot.waitUntil(lambda: window.labels.latest.get("swishnet") is not None, timeout=15000)
    window.stop()


def test_closing_while_the_engine_starts_leaves_nothing_behind(
    qtbot: QtBot, window: MainWindow, audio: dict[str, Path]
) -> None:
    assert window.open_source(str(audio["both"]))
    window.set_separation("mitas")
    window.start()
    assert window.session is not None and window.session.state == "starting"
    t0 = time.monotonic()
    window.close()  # the fixture checks that no thread or engine process is left
    assert window.session is None and time.monotonic() - t0 < 10


@pytest.mark.usefixtures("sound_card")
def test_unknown_input_device_is_shown_not_fatal(qtbot: QtBot, window: MainWindow) -> None:
    window.refresh_devices()
    assert window.input_combo.count() > 1  # the virtual card's devices are listed
    window.set_input_device("no-such-mic-xyz")
    window.start()
    _wait_idle(qtbot, window)
    assert window.banner_frame.isVisible()
    assert "no input device matches 'no-such-mic-xyz'" in window.banner.text()
    assert window.last_state == "failed" and window.start_button.isEnabled()


@pytest.mark.usefixtures("sound_card")
def test_microphone_start_stop_record_and_ab_switch(
    qtbot: QtBot,
    window: MainWindow,
    audio: dict[str, Path],
) -> None:
    window.refresh_devices()
    window.set_separation("mitas")
    window.play_check.setChecked(True)
    window.start()
    qtbot.waitUntil(lambda: window.session is not None and window.session.state == "running")
    engine = window.session.engine  # type: ignore[union-attr]
    assert engine.pid != os.getpid()  # the engine runs in a process of its own
    # the controls reach it: what its status reports back, and what it plays
    window.set_monitor("input")
    qtbot.waitUntil(lambda: engine.monitor == "input", timeout=2000)
    qtbot.waitUntil(lambda: window.latest_played == "input", timeout=2000)
    window.play_check.setChecked(False)
    qtbot.waitUntil(lambda: engine.muted and window.latest_played == "muted", timeout=2000)
    window.play_check.setChecked(True)
    window.hear_removed.click()  # what the separator took away
    qtbot.waitUntil(lambda: window.latest_played == "removed", timeout=2000)
    assert window.settings.monitor == "removed"
    qtbot.waitUntil(lambda: "(what the separator removed)" in window.state_label.text())
    window.set_monitor("separated")
    qtbot.waitUntil(lambda: window.latest_played == "separated", timeout=2000)
    for key, what in ((Qt.Key.Key_I, "input"), (Qt.Key.Key_S, "separated")):  # A/B by key
        qtbot.keyClick(window, key)
        qtbot.waitUntil(lambda w=what: window.latest_played == w, timeout=2000)
        assert window.settings.monitor == what and window.hear_buttons[what].isChecked()
    assert window.input_combo.isEnabled() and window.output_combo.isEnabled()
    for kind, combo in (("input", window.input_combo), ("output", window.output_combo)):
        index = combo.findData("pulse")
        assert index >= 0
        combo.setCurrentIndex(index)
        combo.activated.emit(index)  # the user picks another device while running
        qtbot.waitUntil(lambda k=kind: f"{k} switched to 'pulse (v" in window.banner.text())
    # the server's default source and sink, named
    assert (engine.status.input_name, engine.status.output_name) == (
        "pulse (vmic)",
        "pulse (vsink)",
    )
    assert not window.rate_combo.isEnabled()  # what needs a restart stays locked
    window.record_button.setChecked(True)  # live recording
    assert engine.recording
    subprocess.run(["paplay", str(audio["speech"])], check=True, env=pa_env())
    window.record_button.setChecked(False)
    assert not engine.recording
    saved = window.statusBar().currentMessage()  # the WAV and the label tracks beside it
    assert "input.wav" in saved and "-swishnet.txt (label track)" in saved, saved
    qtbot.waitUntil(
        lambda: any(s.label != "silence" for s in window.labels.segments("swishnet", 0, 1e9)),
        timeout=5000,
    )
    assert window.labels.latest["swishnet"].lookahead == pytest.approx(0.1)
    assert window.latency.text().end_to_end.endswith("ms")  # playing: end-to-end is measured
    window.stop()
    assert window.session is None and not window.stop_button.isEnabled()
    (wav,) = [p for p in window.recorded if p.name.endswith("input.wav")]
    x, sr = sf.read(wav, dtype="float32")
    assert x.size / sr > 1.0 and np.abs(x).max() > 0.05  # the speech was recorded


@pytest.mark.usefixtures("sound_card")
def test_the_round_trip_is_measured_from_the_window(
    qtbot: QtBot, window: MainWindow, audio: dict[str, Path]
) -> None:
    """**Measure** in the latency panel: on the virtual card the output is heard by the input,
    so the chirps come back; the panel shows the measured round trip against the estimate."""
    panel = window.latency_panel
    assert not panel.measure_button.isEnabled()  # not running
    window.refresh_devices()
    window.play_check.setChecked(False)
    window.start()
    qtbot.waitUntil(lambda: window.session is not None and window.session.state == "running")
    assert not panel.measure_button.isEnabled()  # no playback: nothing to measure
    window.stop()
    window.play_check.setChecked(True)
    assert window.open_source(str(audio["speech"]))
    window.start()
    qtbot.waitUntil(lambda: window.session is not None and window.session.state == "running")
    assert not panel.measure_button.isEnabled()  # a file never hears the output
    window.stop()
    window.use_microphone()
    window.start()
    qtbot.waitUntil(lambda: window.session is not None and window.session.state == "running")
    qtbot.waitUntil(panel.measure_button.isEnabled)
    time.sleep(1.0)  # the playback buffer settles
    qtbot.mouseClick(panel.measure_button, Qt.MouseButton.LeftButton)
    assert not panel.measure_button.isEnabled() and "measuring" in panel.round_trip.text()
    qtbot.waitUntil(lambda: panel.round_trip.text().startswith("round trip"), timeout=15000)
    text = panel.round_trip.text()  # "round trip 51.8 ms measured, 47.3 ms estimated (+4.5 ms)"
    measured, estimate = (float(w) for w in text.split() if w.replace(".", "").isdigit())
    assert 20 < measured < 300 and -5 < measured - estimate < 30, text
    assert text in window.banner.text()  # the engine's message too
    qtbot.waitUntil(panel.measure_button.isEnabled, timeout=2000)  # it can be run again
    panel.measure_button.click()
    assert "measuring" in panel.round_trip.text()  # not the last result over again
    qtbot.waitUntil(lambda: panel.round_trip.text().startswith("round trip"), timeout=15000)
    window.stop()


def test_screenshot_command_writes_a_picture(tmp_path: Path, audio: dict[str, Path]) -> None:
    png = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [
            EXE,
            "gui",
            "--source",
            str(audio["both"]),
            "--screenshot",
            str(png),
            "--quit-after",
            "5",
            "--settings",
            str(tmp_path / "s.ini"),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    img = QImage(str(png))
    assert img.width() >= 800 and img.height() >= 600
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    ptr = img.constBits()
    rows = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())
    pixels = rows[:, : img.width() * 3].reshape(img.height(), img.width(), 3).astype(float)
    assert pixels.std() > 20, "the screenshot is blank"
    # the spectrogram area holds many colours, not one flat fill
    assert len(np.unique(pixels[:, img.width() // 2 :].reshape(-1, 3), axis=0)) > 200
    assert not (tmp_path / "s.ini").exists() or "source" not in (tmp_path / "s.ini").read_text()


def test_a_lost_device_is_shown_and_the_window_resumes(
    qtbot: QtBot, window: MainWindow, private_card: object
) -> None:
    """The input device vanishes mid-stream (issue 7): the banner says so, the session stays,
    and when the device returns the engine resumes by itself."""
    from audio_server import PrivateCard

    assert isinstance(private_card, PrivateCard)
    window.refresh_devices()
    window.start()
    qtbot.waitUntil(
        lambda: window.session is not None and window.session.state == "running", timeout=15000
    )
    session = window.session
    assert session is not None
    private_card.pactl("unload-module", private_card.module("module-null-sink"))
    qtbot.waitUntil(lambda: "device lost" in window.banner.text(), timeout=10000)
    assert window.session is session and session.state == "reconnecting"
    assert window.banner_level == "warning" and window.stop_button.isEnabled()
    private_card.plug_back()
    qtbot.waitUntil(lambda: session.state == "running", timeout=20000)
    qtbot.waitUntil(lambda: "back after" in window.banner.text(), timeout=5000)
    window.stop()
    assert window.session is None and window.start_button.isEnabled()


def test_a_source_of_the_sound_server_is_listed_and_captured(
    qtbot: QtBot, window: MainWindow, private_server: object
) -> None:
    """A source of the sound server other than its default (the monitor of a second sink here,
    as a USB microphone beside the built-in one would be) is in the Input list, and Start
    captures it, not the default."""
    from audio_server import PrivateCard

    assert isinstance(private_server, PrivateCard)
    desc = "sink_properties=device.description=Second"
    private_server.pactl("load-module", "module-null-sink", "sink_name=second", desc)
    window.refresh_devices()
    assert window.input_combo.itemText(0) == "system default (vmic)"  # what it reaches
    assert window.output_combo.itemText(0) == "system default (vsink)"
    i = window.input_combo.findData("second.monitor")  # shown as the server describes it
    assert i >= 0 and window.input_combo.itemText(i) == "Monitor of Second (sound server)"
    assert window.output_combo.findData("second") >= 0
    assert window.input_combo.findData("vmic") >= 0  # the default source is listed too
    window.input_combo.setCurrentIndex(i)
    with private_server.tone("second"):
        window.start()
        # a 0.5 sine: -9 dBFS (-6 on PipeWire, whose mono mix adds the channels at -3 dB)
        qtbot.waitUntil(lambda: window.level.rms_db > -12, timeout=15000)
    window.stop()


def test_the_device_pickers_follow_the_sound_server(
    qtbot: QtBot, private_server: object, window: MainWindow
) -> None:
    """A USB microphone plugged in or out, the desktop's default source changed: the pickers
    show it within moments, while running too, and what is picked stays picked."""
    from audio_server import PrivateCard

    assert isinstance(private_server, PrivateCard)
    window.start()
    qtbot.waitUntil(
        lambda: window.session is not None and window.session.state == "running", timeout=15000
    )
    desc = "sink_properties=device.description=Third"
    private_server.pactl("load-module", "module-null-sink", "sink_name=third", desc)
    qtbot.waitUntil(lambda: window.input_combo.findData("third.monitor") >= 0, timeout=3000)
    i = window.input_combo.findData("third.monitor")
    assert window.input_combo.itemText(i) == "Monitor of Third (sound server)"
    assert window.output_combo.findData("third") >= 0
    assert window.input_combo.currentData() == ""  # still the default, as started
    assert window.session is not None and window.session.state == "running"
    private_server.pactl("set-default-source", "third.monitor")
    qtbot.waitUntil(
        lambda: window.input_combo.itemText(0) == "system default (third.monitor)", timeout=3000
    )
    third = private_server.module("module-null-sink", "sink_name=third")
    private_server.pactl("unload-module", third)
    qtbot.waitUntil(lambda: window.input_combo.findData("third.monitor") < 0, timeout=3000)
    assert window.output_combo.findData("third") < 0
    window.stop()


def test_the_device_pickers_follow_a_sound_server_that_restarts(
    qtbot: QtBot, private_card: object, window: MainWindow
) -> None:
    """The sound server killed and started again (a desktop's audio restarted): its devices
    leave the pickers and come back, without Refresh."""
    from audio_server import PrivateCard

    assert isinstance(private_card, PrivateCard)
    assert window.input_combo.findData("vmic") >= 0
    private_card.stop()
    qtbot.waitUntil(lambda: window.input_combo.findData("vmic") < 0, timeout=8000)
    assert window.input_combo.itemText(0) == "system default"  # it reaches nothing known
    private_card.start()
    qtbot.waitUntil(lambda: window.input_combo.findData("vmic") >= 0, timeout=8000)
    assert window.input_combo.itemText(0) == "system default (vmic)"


def test_a_sound_server_that_stops_answering_does_not_freeze_the_window(
    qtbot: QtBot, window: MainWindow, audio: dict[str, Path], private_card: object
) -> None:
    """A frozen sound server (SIGSTOP): Stop used to wait 10 s for the engine process and then
    kill it, and the target clip's ▶ froze the window for 30 s (PulseAudio's connect timeout).
    Now the engine ends by itself and ▶ gives up after 6 s with a clear message."""
    from audio_server import PrivateCard
    from rtaudio import devices

    assert isinstance(private_card, PrivateCard)
    window.refresh_devices()
    window.set_separation("tsenet")
    assert window.load_enrollment(str(audio["speech"]))
    window.start()
    qtbot.waitUntil(
        lambda: window.session is not None and window.session.state == "running", timeout=15000
    )
    private_card.freeze()
    try:
        qtbot.waitUntil(lambda: "device lost" in window.banner.text(), timeout=10000)
        t0 = time.monotonic()
        window.stop()
        assert window.session is None and window.start_button.isEnabled()
        assert time.monotonic() - t0 < 8
        t0 = time.monotonic()
        qtbot.mouseClick(window.listen_button, Qt.MouseButton.LeftButton)
        assert time.monotonic() - t0 < 10
        assert "Cannot play the target clip" in window.banner.text()
        assert "not answering" in window.banner.text()
    finally:
        private_card.freeze(False)
    qtbot.waitUntil(lambda: not devices.stuck(), timeout=10000)  # the late calls returned


def test_the_window_process_does_not_load_torch(tmp_path: Path) -> None:
    """torch and the models live in the engine's process: the window starts faster and holds
    ~200 MB less (an error shown in the window does not import them either)."""
    code = f"""
import sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from rtaudio.config import ConfigError
from rtaudio.gui.settings import open_settings
from rtaudio.gui.window import MainWindow
w = MainWindow(open_settings({str(tmp_path / "s.ini")!r}), persist=False)
w.show_message(__import__("rtaudio.errors").errors.describe(ConfigError("bad")), "error")
app.processEvents()
w.close()
heavy = ("torch", "librosa", "rtaudio.engine", "rtaudio.models")
print(sorted(m for m in heavy if m in sys.modules))
"""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.usefixtures("sound_card")
def test_the_target_clip_is_heard_on_the_output(
    qtbot: QtBot, window: MainWindow, audio: dict[str, Path], tmp_path: Path
) -> None:
    """▶ plays the target clip on the output device: captured back from the virtual card's
    microphone (the output's monitor), it is the clip."""
    window.set_separation("tsenet")
    assert not window.listen_button.isEnabled()  # no clip chosen yet
    assert window.load_enrollment(str(audio["speech"]))
    assert window.listen_button.isEnabled()
    clip = read_audio(audio["speech"])
    mic = Engine(EngineConfig(classifiers=(), record_dir=str(tmp_path / "rec"), record="input"))
    mic.start()
    try:
        time.sleep(0.3)
        qtbot.mouseClick(window.listen_button, Qt.MouseButton.LeftButton)
        assert "playing speech.wav" in window.statusBar().currentMessage()
        time.sleep(clip.size / 16000 + 0.6)
    finally:
        mic.stop()
    heard, _ = sf.read(mic.recordings["input"], dtype="float32")
    _, corr = best_alignment(clip, heard)
    assert corr > 0.9, f"the captured output correlates {corr:.3f} with the clip"
    window.output_combo.addItem("gone", "no-such-output-device")
    window.output_combo.setCurrentIndex(window.output_combo.count() - 1)
    qtbot.mouseClick(window.listen_button, Qt.MouseButton.LeftButton)
    assert "Cannot play the target clip" in window.banner.text()
