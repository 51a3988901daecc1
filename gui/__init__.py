"""rtaudio.gui: the PySide6 desktop window (imports the engine; the engine never imports it).

Modules: :mod:`~rtaudio.gui.app` (``rtaudio gui`` / ``rtaudio-gui``, screenshots),
:mod:`~rtaudio.gui.window` (the main window), :mod:`~rtaudio.gui.session` (one engine run,
started off the Qt thread), :mod:`~rtaudio.gui.viewmodels` (engine results -> what is drawn; no
Qt), :mod:`~rtaudio.gui.widgets` (pyqtgraph / Qt drawing only), :mod:`~rtaudio.gui.settings`
(QSettings persistence).
"""
