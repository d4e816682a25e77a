"""`vm fuzz`, measured: programs per second per core for hw alone and for hw+para+os (in one process,
so per core), and the speed-up of a local Dask cluster from one worker to two (hw alone, many programs).

    python bench/fuzz.py [--hw-count 1500] [--all-count 24] [--cluster-count 6000] [--json FILE]

Each campaign uses its own seeds; the cluster's start is timed apart from its programs. The para and os
figures say how much of their time goes to compiling each program.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from vm.fuzz.campaign import Plan, run_campaign

BITOPS = str(Path(__file__).resolve().parent.parent / "extensions" / "bitops.py")


def _campaign(engines: tuple[str, ...], count: int, workers: int, seed: int, batch: int) -> dict:
    plan = Plan((BITOPS,), engines, 40, seed, batch)
    with tempfile.TemporaryDirectory() as out:
        summary = run_campaign(plan, count=count, seconds=None, workers=workers, scheduler=None, out_dir=Path(out),
                               progress=False)
    print(f"{'+'.join(engines)}, {workers or 'no'} Dask worker(s): " + summary.text(), file=sys.stderr)
    return {"engines": engines, "workers": workers, "programs": summary.programs, "seconds": summary.wall_seconds,
            "programs_per_second": summary.programs / summary.wall_seconds, "startup_seconds": summary.startup_seconds,
            "engine_seconds": summary.engine_seconds, "compile_seconds": summary.compile_seconds,
            "disagreements": len(summary.findings)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw-count", type=int, default=1500)
    parser.add_argument("--all-count", type=int, default=24)
    parser.add_argument("--cluster-count", type=int, default=6000)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    figures = {
        "hw": _campaign(("hw",), args.hw_count, 0, 1 << 20, 50),
        "hw+para+os": _campaign(("hw", "para", "os"), args.all_count, 0, 2 << 20, 4),
        "one_worker": _campaign(("hw",), args.cluster_count, 1, 3 << 20, 100),
        "two_workers": _campaign(("hw",), args.cluster_count, 2, 4 << 20, 100),
    }
    figures["speedup_one_to_two_workers"] = (figures["two_workers"]["programs_per_second"]
                                             / figures["one_worker"]["programs_per_second"])
    for name in ("hw", "hw+para+os"):
        f = figures[name]
        compiling = sum(f["compile_seconds"].values())
        print(f"{name}: {f['programs_per_second']:.1f} programs/s per core"
              + (f", {100 * compiling / f['seconds']:.0f}% of the time compiling" if compiling else ""))
    print(f"one worker to two: {figures['speedup_one_to_two_workers']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
