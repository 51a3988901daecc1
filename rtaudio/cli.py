"""The ``rtaudio`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _cmd_bench(args: argparse.Namespace) -> int:
    from rtaudio import bench
    from rtaudio import models as models

    if args.what != "models":
        print(
            f"rtaudio bench: unknown benchmark {args.what!r} (available: models)", file=sys.stderr
        )
        return 2
    names = args.model or list(bench.CAUSAL_AUDIO_MODELS)
    unknown = [n for n in names if n not in models.list_models()]
    if unknown:
        print(f"rtaudio bench: unknown model(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    rows = bench.bench_models(names, args.chunk_ms, calls=args.calls)
    print(bench.to_json(rows) if args.json else bench.format_table(rows))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    import rtaudio.models as models

    names = args.model or models.list_models()
    if args.markdown:
        print("| name | family | what it is | params | MACs |\n|---|---|---|---:|---:|")
    for name in names:
        v = models.get_variant(name)
        if args.markdown or args.stats:
            from rtaudio.bench import model_stats

            params, macs = model_stats(name)
            if args.markdown:
                print(
                    f"| `{name}` | {v.family} | {v.description} | {params:,} | {macs / 1e6:,.1f}M |"
                )
            else:
                print(
                    f"{name:<22} {v.family:<13} {params:>12,} {macs / 1e6:>12,.1f}M  "
                    f"{v.description}"
                )
        else:
            print(f"{name:<22} {v.family:<13} {v.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from rtaudio import __version__

    p = argparse.ArgumentParser(prog="rtaudio", description=__doc__)
    p.add_argument("--version", action="version", version=f"rtaudio {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("bench", help="benchmarks (one CPU thread)")
    b.add_argument("what", choices=["models"], help="what to benchmark")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.add_argument("--model", action="append", help="model name (repeatable; default: all causal)")
    b.add_argument(
        "--chunk-ms", type=float, nargs="+", default=[10.0, 20.0], help="chunk lengths in ms"
    )
    b.add_argument("--calls", type=int, default=400, help="timed step calls per row")
    b.set_defaults(func=_cmd_bench)

    m = sub.add_parser("models", help="list the model zoo")
    m.add_argument("--stats", action="store_true", help="count parameters and MACs")
    m.add_argument("--markdown", action="store_true", help="a Markdown table with counts")
    m.add_argument("--model", action="append", help="only these models (repeatable)")
    m.set_defaults(func=_cmd_models)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
