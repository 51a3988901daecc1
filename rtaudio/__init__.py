"""rtaudio: a real-time audio tool built on depthwise-separable convolutional networks."""

__version__ = "0.1.0"
