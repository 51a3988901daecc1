#!/usr/bin/env bash
# Headless virtual sound card for tests and demos (PulseAudio null sink).
#   eval "$(bash scripts/virtual_audio.sh start)"   # prints export PULSE_SERVER=... and
#                                                    # ALSA_CONFIG_PATH=...
#   bash scripts/virtual_audio.sh stop
#   bash scripts/virtual_audio.sh available            # exit status 0: pulseaudio is there
#   bash scripts/virtual_audio.sh alsa                 # prints ALSA_CONFIG_PATH=... alone
# Devices: sink "vsink" (speakers, the default output) and source "vmic" = vsink's monitor
# (the default input): whatever is played to vsink comes back on vmic.
# PortAudio reaches PulseAudio through ALSA's pulse plugin (libasound2-plugins): the ALSA
# devices "pulse" and "default" route there.
# On a PipeWire machine (where ALSA's "default" is PipeWire's, and installing the pulseaudio
# package would remove PipeWire) install.sh unpacks pulseaudio into .venv/pulseaudio instead,
# and ALSA_CONFIG_PATH (printed with PULSE_SERVER) points "default" at the virtual card too.
# Env: VA_DIR (/tmp/rtaudio-va), VA_RATE (48000), VA_CHANNELS (2), VA_KEEPALIVE (1)
set -euo pipefail
VA_DIR=${VA_DIR:-/tmp/rtaudio-va}; SOCK=$VA_DIR/native
PIDF=$VA_DIR/pulse.pid; KPIDF=$VA_DIR/keepalive.pid
UNPACKED=$(cd "$(dirname "$0")/.." && pwd)/.venv/pulseaudio/usr  # by install.sh, with PipeWire
pa() { PULSE_SERVER=unix:$SOCK "$@"; }

# PA_CMD: the pulseaudio daemon, the system's or the one install.sh unpacked (its libraries
# and modules beside it); fails without either
daemon() {
  if command -v pulseaudio >/dev/null; then PA_CMD=(pulseaudio); return; fi
  local lib mods
  lib=$(echo "$UNPACKED"/lib/*/pulseaudio); mods=$(echo "$UNPACKED"/lib/pulse-*/modules)
  [ -x "$UNPACKED/bin/pulseaudio" ] && [ -d "$lib" ] && [ -d "$mods" ] || return 1
  PA_CMD=(env "LD_LIBRARY_PATH=$lib:$mods" "$UNPACKED/bin/pulseaudio" "--dl-search-path=$mods")
}

# ALSA's "default" device to the virtual card, whatever the machine's ALSA configuration
# makes it (PipeWire's, on a PipeWire machine): the system configuration, then this on top
alsa_config() {
  local base=/usr/share/alsa/alsa.conf
  [ -f "$base" ] || return 0
  cat >"$VA_DIR/alsa-default.conf" <<ALSA
pcm.!default { type pulse hint { show on description "rtaudio's virtual sound card" } }
ctl.!default { type pulse }
ALSA
  printf '<%s>\n@hooks.1 { func load files [ "%s" ] errors false }\n' \
    "$base" "$VA_DIR/alsa-default.conf" >"$VA_DIR/alsa.conf"
  echo "export ALSA_CONFIG_PATH=$VA_DIR/alsa.conf"
}

exports() { echo "export PULSE_SERVER=unix:$SOCK"; alsa_config; }

start() {
  if [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; then
    exports; return
  fi
  daemon || {
    echo "virtual_audio: pulseaudio is not installed (bash install.sh installs it)" >&2; return 1
  }
  mkdir -p "$VA_DIR/run" "$VA_DIR/home"; rm -f "$SOCK"
  cat >"$VA_DIR/va.pa" <<PA
load-module module-native-protocol-unix auth-anonymous=1 socket=$SOCK
load-module module-null-sink sink_name=vsink rate=${VA_RATE:-48000} channels=${VA_CHANNELS:-2}
load-module module-remap-source master=vsink.monitor source_name=vmic
set-default-sink vsink
set-default-source vmic
PA
  # -n: no default.pa; no daemonize so $! is the daemon; never exit when idle
  HOME=$VA_DIR/home XDG_RUNTIME_DIR=$VA_DIR/run PULSE_RUNTIME_PATH=$VA_DIR/run \
    nohup "${PA_CMD[@]}" -n -F "$VA_DIR/va.pa" --daemonize=no --exit-idle-time=-1 --disallow-exit \
      --log-target="file:$VA_DIR/pulse.log" </dev/null >/dev/null 2>&1 &
  echo $! >"$PIDF"
  for _ in $(seq 100); do
    if pa pactl info >/dev/null 2>&1; then
      if [ "${VA_KEEPALIVE:-1}" = 1 ]; then
        # an idle null sink runs 2 s blocks; a 10 ms reader keeps its latency at 10 ms
        pa nohup parec -d vsink.monitor --latency-msec=10 --raw </dev/null >/dev/null 2>&1 &
        echo $! >"$KPIDF"
        for _ in $(seq 40); do
          l=$(pa pactl list sinks | sed -n 's/.*Latency: \([0-9]*\) usec.*/\1/p' | head -1)
          [ "${l:-9999999}" -lt 100000 ] && break; sleep 0.1
        done
      fi
      exports; return
    fi
    kill -0 "$(cat "$PIDF")" 2>/dev/null || break; sleep 0.1
  done
  echo "virtual_audio: pulseaudio failed to start, see $VA_DIR/pulse.log" >&2; return 1
}

killpid() {
  kill -0 "$1" 2>/dev/null || return 0; kill -TERM "$1"
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

stop() {
  if [ -f "$KPIDF" ]; then killpid "$(cat "$KPIDF")"; rm -f "$KPIDF"; fi
  if [ -f "$PIDF" ]; then killpid "$(cat "$PIDF")"; rm -f "$PIDF" "$SOCK"; fi
}

case "${1:-start}" in
  start) start ;;
  available) daemon ;;  # exit status 0: a pulseaudio daemon to start
  alsa) mkdir -p "$VA_DIR"; alsa_config ;;  # only the ALSA configuration (another server)
  stop) stop ;;
  *) echo "usage: $0 start|stop|available|alsa" >&2; exit 2 ;;
esac
