"""Containers, measured: `vm container run --rm` beside `vm run` of the same program, and many short
containers at once through one daemon.

    python bench/containers.py [--runs 15] [--containers 50] [--mode os] [--json FILE]

It starts a real `vm daemon` on a temporary unix socket with a temporary image store, builds an image
of guest_programs/hello_hcall.asm, and stops the daemon at the end. Start-up is the median of
`--runs` whole processes of each kind, taken in turns (the same machine state for both); the
concurrent run creates `--containers` containers, starts them all at once, waits for every one and
checks each one's exit status and output: a container lost or wrong fails the benchmark.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "guest_programs" / "hello_hcall.asm"
EXPECTED = (ROOT / "guest_programs" / "hello_hcall.out").read_bytes()
START_SECONDS = 30


def _vm(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm", *args], capture_output=True, env=env, timeout=120, check=True)


def start_daemon(root: Path, env: dict[str, str]) -> subprocess.Popen:
    """A `vm daemon` on ROOT, once it says it listens (the other daemon benchmark starts its own so too)."""
    daemon = subprocess.Popen([sys.executable, "-m", "vm", "daemon", "--root", str(root)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    with selectors.DefaultSelector() as selector:
        selector.register(daemon.stdout, selectors.EVENT_READ)
        if not selector.select(START_SECONDS) or not daemon.stdout.readline():
            daemon.kill()
            raise SystemExit("the daemon did not start")
    return daemon


def _timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, timeout=120)
    elapsed = time.perf_counter() - start
    if done.stdout != EXPECTED:
        raise SystemExit(f"`{' '.join(command)}` printed {done.stdout!r}: {done.stderr.decode(errors='replace')}")
    return elapsed


def start_up(runs: int, mode: str, env: dict[str, str]) -> dict:
    """Medians of whole `vm run` and `vm container run --rm` processes, taken in turns."""
    direct = [sys.executable, "-m", "vm", "run", str(PROGRAM), "--mode", mode]
    contained = [sys.executable, "-m", "vm", "container", "run", "--rm", "hello:bench"]
    _timed(direct, env), _timed(contained, env)  # warm: the os executable is compiled and cached
    times: dict[str, list[float]] = {"vm run": [], "vm container run --rm": []}
    for _ in range(runs):
        times["vm run"].append(_timed(direct, env))
        times["vm container run --rm"].append(_timed(contained, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"runs": runs, "median_seconds": medians,
            "container_over_run_seconds": medians["vm container run --rm"] - medians["vm run"]}


def concurrent(count: int, socket_path: Path) -> dict:
    """Create `count` containers, start them together, wait for each; check every one."""
    transport = httpx.HTTPTransport(uds=str(socket_path))
    with httpx.Client(transport=transport, base_url="http://daemon/v1", timeout=120) as client, \
            ThreadPoolExecutor(count) as pool:
        ids = [client.post("/containers", json={"image": "hello:bench"}).raise_for_status().json()["id"]
               for _ in range(count)]
        start = time.perf_counter()
        list(pool.map(lambda c: client.post(f"/containers/{c}/start").raise_for_status(), ids))
        ended = list(pool.map(lambda c: client.post(f"/containers/{c}/wait").raise_for_status().json(), ids))
        elapsed = time.perf_counter() - start
        wrong = []
        for container in ended:
            logs = client.get(f"/containers/{container['id']}/logs").raise_for_status().text.splitlines()
            output = b"".join(base64.b64decode(json.loads(line)["data"]) for line in logs if '"seq"' in line)
            if container["exit_status"] != 0 or output != EXPECTED:
                wrong.append(container["name"])
            client.delete(f"/containers/{container['id']}").raise_for_status()
    if wrong:
        raise SystemExit(f"{len(wrong)} of {count} containers did not end as they should: {', '.join(wrong)}")
    return {"containers": count, "seconds": elapsed, "containers_per_second": count / elapsed, "lost": 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--mode", default="os", choices=("hw", "os"))
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vm-bench-") as scratch:
        scratch = Path(scratch)
        env = {**os.environ, "VM_IMAGES": str(scratch / "images"), "VM_HOST": f"unix://{scratch / 'd' / 'daemon.sock'}"}
        image = scratch / "hello"
        image.mkdir()
        (image / PROGRAM.name).write_bytes(PROGRAM.read_bytes())
        (image / "vmfile.toml").write_text(f'program = "{PROGRAM.name}"\nmode = "{args.mode}"\n')
        _vm("image", "build", str(image), "-t", "hello:bench", env=env)
        daemon = start_daemon(scratch / "d", env)
        try:
            figures = {"mode": args.mode, "start_up": start_up(args.runs, args.mode, env),
                       "concurrent": concurrent(args.containers, scratch / "d" / "daemon.sock")}
        finally:
            daemon.terminate()
            daemon.wait(30)
    s, c = figures["start_up"], figures["concurrent"]
    print(f"start-up ({args.mode}, hello_hcall, medians of {s['runs']} whole processes in turns):")
    for name, seconds in s["median_seconds"].items():
        print(f"  {name:24s} {1000 * seconds:7.1f} ms")
    print(f"  container run --rm is {1000 * s['container_over_run_seconds']:+.1f} ms over vm run")
    print(f"{c['containers']} containers at once: all ended as they should, in {c['seconds']:.2f} s: "
          f"{c['containers_per_second']:.1f} containers/s on {os.cpu_count()} cores")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
