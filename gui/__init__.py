"""rtaudio.gui: the PySide6 desktop window (imports the engine; the engine never imports it)."""
