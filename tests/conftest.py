import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def sound_card():
    """A running virtual sound card; skips (or fails with RTAUDIO_REQUIRE_AUDIO=1) without one."""
    import audio_server

    try:
        server = audio_server.start()
    except RuntimeError as e:
        if os.environ.get("RTAUDIO_REQUIRE_AUDIO") == "1":
            pytest.fail(f"no virtual sound card: {e}")
        pytest.skip(f"no virtual sound card: {e}")
    from rtaudio import devices

    devices.refresh()
    yield server
    audio_server.stop()
