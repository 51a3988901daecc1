#!/usr/bin/env bash
# Install rtaudio on a fresh Debian machine: system packages, a venv in .venv, the package.
# Idempotent: re-running only installs what is missing.  Usage: bash install.sh
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  python3-venv
  libportaudio2 libsndfile1            # audio I/O (sounddevice, soundfile)
  pulseaudio pulseaudio-utils          # the virtual sound card used by the tests
  libasound2-plugins                   # ALSA -> PulseAudio bridge that PortAudio uses
  sox espeak-ng                        # test signals and speech
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "rtaudio install: apt packages ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "rtaudio install: creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# the CPU build of torch first, so nothing pulls a CUDA build
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
echo "rtaudio install: done ($(.venv/bin/rtaudio --version 2>/dev/null || echo rtaudio))"
