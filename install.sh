#!/usr/bin/env bash
# Install rtaudio on a fresh Debian machine: system packages, a venv in .venv, the package.
# Idempotent: re-running only installs what is missing.  Usage: bash install.sh [--data]
#   --data  also install the large Debian packages of real recordings that
#           `rtaudio data build` draws on (~9 GB: game data, speech and music packages)
set -euo pipefail
cd "$(dirname "$0")"

DATA=0
for arg in "$@"; do
  case "$arg" in
    --data) DATA=1 ;;
    *) echo "usage: bash install.sh [--data]" >&2; exit 2 ;;
  esac
done

APT_PACKAGES=(
  python3-venv
  libportaudio2 libsndfile1            # audio I/O (sounddevice, soundfile)
  pulseaudio pulseaudio-utils          # the virtual sound card used by the tests
  libasound2-plugins                   # ALSA -> PulseAudio bridge that PortAudio uses
  sox espeak-ng                        # test signals and speech
  libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 libxcb-cursor0  # Qt's xcb plugin (GUI)
  libegl1 libgl1 libfontconfig1 libdbus-1-3                          # Qt GUI runtime
  # corpus builder (rtaudio data build): synthesisers, soundfonts, small sound packages
  flite festival festvox-kallpc16k festvox-us-slt-hts wamerican      # TTS voices, word list
  fluidsynth fluid-soundfont-gm timgm6mb-soundfont                  # MIDI rendering
  asterisk-core-sounds-en-wav asterisk-prompt-fr-armelle asterisk-prompt-es-co  # real speech
  sound-theme-freedesktop sound-icons openttd-opensfx minetest-data sonic-pi-samples  # events
)
# --data: real speech, music and sound events (big); missing ones are skipped with a notice
DATA_PACKAGES=(
  asterisk-core-sounds-es-wav asterisk-core-sounds-fr-wav asterisk-core-sounds-it-wav
  asterisk-core-sounds-ru-wav asterisk-prompt-it-menardi-wav asterisk-moh-opsound-wav
  klettres-data ktuberling-data hedgewars-data 0ad-data supertuxkart-data
  colobot-common-sounds warmux-data frozen-bubble-data xmoto-data extremetuxracer-data
  lomiri-sounds widelands-data lincity-ng-data wesnoth-1.16-data musescore-general-soundfont
  festvox-kdlpc16k festvox-italp16k festvox-itapc16k festvox-suopuhe-lj festvox-suopuhe-mv
  tuxpaint-stamps-default megaglest-data warzone2100-data openarena-data ufoai-sound  # events
  flightgear-data-base scorched3d-data torcs-data supertux-data redeclipse-data     # events
  simutrans-pak64 gcompris-qt-data                                                  # events, music
  openclonk-data trigger-rally-data gl-117-data freedink-data                       # events
)
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ "$DATA" -eq 1 ]; then
  $SUDO apt-get update -q  # fresh package lists, so the availability check below is right
  for p in "${DATA_PACKAGES[@]}"; do
    if apt-cache show "$p" >/dev/null 2>&1; then
      APT_PACKAGES+=("$p")
    else
      echo "rtaudio install: $p is not in the apt sources; skipped"
    fi
  done
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# A PipeWire machine keeps PipeWire: apt would remove pipewire-audio / pipewire-alsa to install
# the pulseaudio package. rtaudio itself talks to PipeWire's PulseAudio service as to
# PulseAudio; only the tests' virtual sound card needs the pulseaudio daemon, so it is unpacked
# into .venv/pulseaudio (scripts/virtual_audio.sh finds it there) and only its libraries are
# installed.
PIPEWIRE=0
if ! installed pulseaudio; then
  for p in pipewire-audio pipewire-alsa pipewire-pulse; do installed "$p" && PIPEWIRE=1; done
fi
PULSE_DEB=""
if [ "$PIPEWIRE" -eq 1 ]; then
  kept=()
  for p in "${APT_PACKAGES[@]}"; do [ "$p" = pulseaudio ] || kept+=("$p"); done
  APT_PACKAGES=("${kept[@]}")
fi
if [ "$PIPEWIRE" -eq 1 ] && [ ! -x .venv/pulseaudio/usr/bin/pulseaudio ]; then
  echo "rtaudio install: PipeWire is the sound server here: kept; pulseaudio is unpacked" \
    "into .venv/pulseaudio for the tests' virtual sound card, not installed"
  debs=$(mktemp -d)
  (cd "$debs" && { apt-get download -q pulseaudio 2>/dev/null ||
    { $SUDO apt-get update -q && apt-get download -q pulseaudio; }; })
  PULSE_DEB=$(echo "$debs"/pulseaudio_*.deb)
  # its Depends, less versions and alternatives: "libc6 (>= 2.34), a | b" -> libc6 a
  for p in $(dpkg-deb -f "$PULSE_DEB" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//'); do
    APT_PACKAGES+=("$p")
  done
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "rtaudio install: apt packages ${missing[*]}"
  $SUDO apt-get update -q
  # --no-remove: apt stops rather than take a package of the machine's away for one of these
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    --no-remove "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "rtaudio install: creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
if [ -n "$PULSE_DEB" ]; then
  dpkg-deb -x "$PULSE_DEB" .venv/pulseaudio && rm -rf "$(dirname "$PULSE_DEB")"
fi
.venv/bin/python -m pip install -q --upgrade pip
# the CPU build of torch first, so nothing pulls a CUDA build
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]" -c constraints.txt  # the tested versions
echo "rtaudio install: done ($(.venv/bin/rtaudio --version 2>/dev/null || echo rtaudio))"
