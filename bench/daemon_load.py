"""The daemon under chatty containers: how fast `ps` and `stop` answer while ten containers print as
fast as they can, and how fast 16 MiB of logs stream.

    python bench/daemon_load.py [--chatty 10] [--seconds 10] [--json FILE]

It starts a real `vm daemon` on a temporary unix socket with a temporary image store and stops it at
the end. While `--chatty` containers print lines flat out, it lists the containers (GET /containers,
what `vm ps` asks) again and again, and starts and stops (timeout 0) quiet containers one after the
other; then it streams the logs of a container that printed 16 MiB, once under the load and once
after it. Latencies are in milliseconds; a request that fails fails the benchmark.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from containers import start_daemon  # bench/, beside this script

LOG_BYTES = 16 << 20
CHATTY = """\
main:   li   r1, 0
loop:   addi r1, r1, 1
        out  1, r1
        li   r2, 10
        out  0, r2
        jmp  loop
"""
QUIET = "main: li r3, 100000000000\nloop: subi r3, r3, 1\n bnez r3, loop\n halt\n"


def _build(scratch: Path, name: str, source: str, env: dict[str, str]) -> None:
    directory = scratch / name
    directory.mkdir()
    (directory / f"{name}.asm").write_text(source)
    (directory / "vmfile.toml").write_text(f'program = "{name}.asm"\nmode = "os"\n')
    subprocess.run([sys.executable, "-m", "vm", "image", "build", str(directory), "-t", f"{name}:bench"], env=env,
                   capture_output=True, timeout=120, check=True)


def _percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"count": len(values), "p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
            "max_ms": 1000 * ordered[-1]}


def _stream_rate(client: httpx.Client, container: str) -> dict:
    start = time.perf_counter()
    size = 0
    pending = bytearray()
    with client.stream("GET", f"/containers/{container}/logs") as response:
        response.raise_for_status()
        for chunk in response.iter_raw(1 << 20):  # lines split here: httpx's iter_lines joins a long line slowly
            pending += chunk
            *lines, rest = pending.split(b"\n")
            pending = bytearray(rest)
            for line in lines:
                if line.startswith(b'{"seq"'):
                    size += len(base64.b64decode(json.loads(line)["data"]))
    seconds = time.perf_counter() - start
    if size != LOG_BYTES:
        raise SystemExit(f"the logs held {size} bytes, not {LOG_BYTES}")
    return {"bytes": size, "seconds": seconds, "mb_per_second": size / seconds / 1e6}


def measure(client: httpx.Client, chatty: int, seconds: float) -> dict:
    big = client.post("/containers", json={"image": "chatty:bench", "limits": {"output_bytes": LOG_BYTES}}).json()
    client.post(f"/containers/{big['id']}/start").raise_for_status()
    client.post(f"/containers/{big['id']}/wait", timeout=300).raise_for_status()  # stopped at its output limit
    loud = []
    for _ in range(chatty):
        created = client.post("/containers", json={"image": "chatty:bench",
                                                   "limits": {"output_bytes": 1 << 40}}).raise_for_status()
        loud.append(created.json()["id"])
        client.post(f"/containers/{loud[-1]}/start").raise_for_status()
    time.sleep(1.0)  # all of them printing
    listing, stopping = [], []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        client.get("/containers").raise_for_status()
        listing.append(time.perf_counter() - start)
        if len(listing) % 10 == 0:
            quiet = client.post("/containers", json={"image": "quiet:bench"}).raise_for_status().json()["id"]
            client.post(f"/containers/{quiet}/start").raise_for_status()
            time.sleep(0.2)  # its guest runs
            start = time.perf_counter()
            client.post(f"/containers/{quiet}/stop", params={"timeout": 0}).raise_for_status()
            stopping.append(time.perf_counter() - start)
            client.delete(f"/containers/{quiet}").raise_for_status()
    loaded = _stream_rate(client, big["id"])
    for container in loud:
        client.delete(f"/containers/{container}", params={"force": 1}).raise_for_status()
    idle = _stream_rate(client, big["id"])
    return {"chatty": chatty, "seconds": seconds, "ps": _percentiles(listing), "stop": _percentiles(stopping),
            "logs_under_load": loaded, "logs_idle": idle}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chatty", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vm-bench-") as scratch:
        scratch = Path(scratch)
        env = {**os.environ, "VM_IMAGES": str(scratch / "images")}
        _build(scratch, "chatty", CHATTY, env)
        _build(scratch, "quiet", QUIET, env)
        daemon = start_daemon(scratch / "d", env)
        transport = httpx.HTTPTransport(uds=str(scratch / "d" / "daemon.sock"))
        try:
            with httpx.Client(transport=transport, base_url="http://daemon/v1", timeout=60) as client:
                figures = measure(client, args.chatty, args.seconds)
        finally:
            daemon.terminate()
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait(30)
    for name in ("ps", "stop"):
        f = figures[name]
        print(f"{name:5s} with {args.chatty} chatty containers: p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, "
              f"max {f['max_ms']:.1f} ms ({f['count']} requests)")
    for name in ("logs_under_load", "logs_idle"):
        f = figures[name]
        print(f"{name:15s} 16 MiB in {f['seconds']:.2f} s: {f['mb_per_second']:.1f} MB/s")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
