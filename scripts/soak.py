#!/usr/bin/env python
"""Soak test by hand: an hour of audio through the live engine at full speed.

    .venv/bin/python scripts/soak.py --minutes 60 --out soak.json > soak.log 2>&1 &

Generates the source (16 kHz speech-like signal, 115 MB per hour, in a temporary folder
unless ``--source`` is given), runs it through :class:`rtaudio.engine.Engine` from a file source
with ``realtime=False`` (the same threads, channels and models as ``rtaudio monitor``), prints
a line per minute of audio and writes a JSON report: RSS after the first minute and at the end
(pass: growth under ``--max-growth-mb``, 20 MB by default) and per-chunk processing time
percentiles of the first and the last ``--segment-min`` minutes (pass: p50 and p95 of the last
within 1.5x + 1 ms of the first; the machine's other load can move them). Exit status 0 pass,
1 fail.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rtaudio.bench_pipeline import soak, write_soak_source
from rtaudio.config import load


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=60.0, help="audio to run (default 60)")
    p.add_argument("--source", help="a sound file instead of the generated signal")
    p.add_argument(
        "--config",
        help="TOML engine settings (default: separate=mitas, both classifiers, 10 ms chunks)",
    )
    p.add_argument("--chunk-ms", type=float, default=10.0)
    p.add_argument("--segment-min", type=float, default=10.0, help="first / last segment")
    p.add_argument("--max-growth-mb", type=float, default=20.0)
    p.add_argument("--out", default="soak.json", help="JSON report")
    a = p.parse_args()
    cfg = load(a.config, **({} if a.config else {"separate": "mitas"}), chunk_ms=a.chunk_ms)
    with tempfile.TemporaryDirectory(prefix="rtaudio-soak-") as tmp:
        src = Path(a.source) if a.source else write_soak_source(Path(tmp) / "soak.wav", a.minutes)

        def log(line: str) -> None:
            print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)

        log(f"source {src}, config {cfg}")
        report = soak(src, cfg, segment_s=a.segment_min * 60, log=log)
    f, last = report["first"], report["last"]
    ok_mem = report["rss_growth_mb"] < a.max_growth_mb
    ok_lat = all(last[k] <= 1.5 * f[k] + 1.0 for k in ("p50_ms", "p95_ms") if k in f and k in last)
    report["pass"] = {"memory": ok_mem, "latency": ok_lat}
    Path(a.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "rss_by_minute"}, indent=1))
    return 0 if ok_mem and ok_lat else 1


if __name__ == "__main__":
    sys.exit(main())
