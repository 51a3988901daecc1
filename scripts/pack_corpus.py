"""Pack a subset of a corpus into a few tens of MB (Ogg Vorbis) to train on a remote machine.

Developer tool: the GPU machine this project may borrow takes at most 64 MiB with each call,
while a 6-hour corpus is 750 MB of WAV. Clips are taken round-robin over the sources of each
kind and split (so every speaker, voice, soundfont and recording keeps some clips) until each
share of the byte budget is spent; the manifest keeps every field but the path (.ogg).

    .venv/bin/python scripts/pack_corpus.py /work/data/corpus_train_v1 .gpu/corpus --mb 40
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import shutil
from collections import defaultdict
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from rtaudio.data.manifest import FIELDS

# share of the budget per (kind, split); speech matters most to both separators
SHARES = {
    ("speech", "train"): 0.56,
    ("music", "train"): 0.12,
    ("noise", "train"): 0.09,
    ("events", "train"): 0.09,
    ("speech", "validation"): 0.08,
    ("music", "validation"): 0.02,
    ("noise", "validation"): 0.02,
    ("events", "validation"): 0.02,
}


def write_summary(src: Path, out: Path, mb: float, quality: float) -> None:
    """``summary.json`` of the pack: the source corpus's builder seed and where it came from
    (model cards name both)."""
    summary = src / "summary.json"
    built = json.loads(summary.read_text()) if summary.is_file() else {}
    sha = hashlib.sha256((src / "manifest.csv").read_bytes()).hexdigest()
    info = {
        "seed": built.get("seed"),
        "builder_version": built.get("builder_version"),
        "packed_from": {"corpus": str(src), "manifest_sha256": sha, "mb": mb, "vorbis": quality},
    }
    (out / "summary.json").write_text(json.dumps(info, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--mb", type=float, default=40.0, help="byte budget in MB (1e6)")
    ap.add_argument("--quality", type=float, default=0.8, help="Vorbis compression level 0..1")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    with open(a.src / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if a.out.exists():
        shutil.rmtree(a.out)
    rnd = random.Random(a.seed)
    kept: list[dict[str, str]] = []
    total = 0
    for (kind, split), share in SHARES.items():
        by_src: dict[str, list[dict[str, str]]] = defaultdict(list)
        for r in rows:
            if r["kind"] == kind and r["split"] == split:
                by_src[r["source"]].append(r)
        queues = [rnd.sample(v, len(v)) for _, v in sorted(by_src.items())]
        rnd.shuffle(queues)
        budget, spent = share * a.mb * 1e6, 0
        bar = tqdm(total=round(budget / 1e6, 1), desc=f"{kind}/{split}", unit="MB")
        while spent < budget and any(queues):
            for q in queues:
                if not q or spent >= budget:
                    continue
                r = q.pop()
                x, sr = sf.read(a.src / r["path"], dtype="int16")
                buf = io.BytesIO()
                sf.write(buf, x, sr, format="OGG", subtype="VORBIS", compression_level=a.quality)
                rel = str(Path(r["path"]).with_suffix(".ogg"))
                (a.out / rel).parent.mkdir(parents=True, exist_ok=True)
                (a.out / rel).write_bytes(buf.getvalue())
                kept.append({**r, "path": rel})
                spent += len(buf.getvalue())
                bar.update(round(len(buf.getvalue()) / 1e6, 3))
        bar.close()
        total += spent
    with open(a.out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(FIELDS))
        w.writeheader()
        w.writerows(kept)
    write_summary(a.src, a.out, a.mb, a.quality)
    hours: dict[str, float] = defaultdict(float)
    for r in kept:
        hours[f"{r['kind']}/{r['split']}"] += float(r["duration"]) / 3600
    shown = {k: round(v, 2) for k, v in hours.items()}
    print(f"{len(kept)} clips, {total / 1e6:.1f} MB, hours:", shown)


if __name__ == "__main__":
    main()
