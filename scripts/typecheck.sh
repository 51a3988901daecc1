#!/usr/bin/env bash
# mypy over the installed layout (rtaudio/, rtaudio/models <- models/, rtaudio/gui <- gui/):
# mypy has no package-dir mapping, so check a mirror of the tree and map paths back.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/rtaudio"
cp -r "$root/rtaudio/." "$tmp/rtaudio/"
cp -r "$root/models" "$tmp/rtaudio/models"
cp -r "$root/gui" "$tmp/rtaudio/gui"
find "$tmp" -name __pycache__ -prune -exec rm -rf {} +
cd "$tmp"
set +e
"$root/.venv/bin/mypy" --config-file "$root/pyproject.toml" --cache-dir "$root/.mypy_cache" \
  rtaudio "$@" 2>&1 | sed -e "s#^rtaudio/models/#models/#" -e "s#^rtaudio/gui/#gui/#"
rc=${PIPESTATUS[0]}
exit "$rc"
