"""Starting the window: ``rtaudio gui`` / ``rtaudio-gui`` (and screenshots for the docs)."""

from __future__ import annotations

import ctypes.util
import os
import re
import sys
from pathlib import Path

# libraries Qt's xcb platform plugin needs beyond a minimal X11 client, and their Debian packages
XCB_LIBRARIES = {
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xkbcommon-x11": "libxkbcommon-x11-0",
    "xcb-cursor": "libxcb-cursor0",
}


class GuiError(RuntimeError):
    """The window cannot start here (no display, missing system libraries)."""


def check_platform(offscreen_ok: bool) -> None:
    """Fail with a clear message where Qt would abort the process instead.

    ``offscreen_ok``: without a display, render offscreen (screenshots) instead of failing.
    """
    if os.environ.get("QT_QPA_PLATFORM") or sys.platform != "linux":
        return
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        if offscreen_ok:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
            return
        raise GuiError(
            "no display (DISPLAY / WAYLAND_DISPLAY unset); run it in a desktop session, "
            "or set QT_QPA_PLATFORM=offscreen to run without one"
        )
    display = os.environ.get("DISPLAY", "")
    local = re.fullmatch(r":(\d+)(\.\d+)?", display)
    wayland = bool(os.environ.get("WAYLAND_DISPLAY"))
    if local and not wayland and not Path(f"/tmp/.X11-unix/X{local.group(1)}").exists():
        raise GuiError(f"no X server at DISPLAY={display} (is the desktop session running?)")
    if display and not os.environ.get("WAYLAND_DISPLAY"):
        missing = [pkg for lib, pkg in XCB_LIBRARIES.items() if not ctypes.util.find_library(lib)]
        if missing:
            raise GuiError(
                "Qt's X11 (xcb) plugin needs system packages: "
                f"sudo apt-get install {' '.join(missing)}  (or run: bash install.sh)"
            )


def run_gui(
    source: str | None = None,
    screenshot: str | None = None,
    quit_after: float | None = None,
    settings_file: str | None = None,
    separate: str | None = None,
) -> int:
    """Open the window; with ``source``, start on that file right away.

    ``screenshot``: save a PNG of the window after ``quit_after`` seconds (default 5), then quit.
    ``quit_after``: close the window after that many seconds. Settings are not saved when taking
    a screenshot. Returns the exit code (1 if the screenshot could not be written).
    """
    check_platform(offscreen_ok=screenshot is not None)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from rtaudio.gui.settings import APPLICATION, ORGANIZATION, open_settings
    from rtaudio.gui.window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setStyle("Fusion")
    window = MainWindow(open_settings(settings_file), persist=screenshot is None)
    if separate is not None:
        window.set_separation(separate)
    window.show()
    if source is not None and window.open_source(source):
        window.start()
    if screenshot is not None and quit_after is None:
        quit_after = 5.0
    status = {"code": 0}

    def finish() -> None:
        if screenshot is not None:
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            if not window.grab().save(screenshot):
                print(f"rtaudio gui: cannot write {screenshot}", file=sys.stderr)
                status["code"] = 1
        window.close()
        app.quit()

    if quit_after is not None:
        QTimer.singleShot(round(quit_after * 1000), finish)
    app.exec()
    window.close()
    return status["code"]


def run_from_cli(
    source: str | None,
    screenshot: str | None,
    quit_after: float | None,
    settings_file: str | None,
    separate: str | None,
) -> int:
    """``rtaudio gui``: run the window; a :class:`GuiError` is one line on stderr, exit 2."""
    try:
        return run_gui(
            source=source,
            screenshot=screenshot,
            quit_after=quit_after,
            settings_file=settings_file,
            separate=separate,
        )
    except GuiError as e:
        print(f"rtaudio gui: {e}", file=sys.stderr)
        return 2


def main() -> int:
    """The ``rtaudio-gui`` script: ``rtaudio gui`` with the same options."""
    from rtaudio import native_stderr
    from rtaudio.cli import main as cli_main

    native_stderr.install()
    return cli_main(["gui", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
