"""Public REST throughput and latency: req/s and p99 with 64 concurrent connections.

Not a test. Starts one server process (uvloop, rate limits off, durability none) on a fresh
data directory, seeds a live market with the demo simulation (``--seed-steps`` steps, then the
simulation stops; the periodic Tick still runs, so cached answers are rebuilt every second as in
production), and loads it with ``wrk`` (1 thread, 64 connections, 10 s; apt-get install wrk) —
or, without wrk, with a small aiohttp client load generator — on:

- ``GET /v2/ticker/tBTCUSD``
- ``GET /v2/book/tBTCUSD/P0?len=25``
- ``GET /v2/trades/tBTCUSD/hist``

Each endpoint is run ``--runs`` times; the median req/s and median p99 are reported, as a
markdown table (append it to bench/RESULTS-rest.md with the machine and date).

Usage: .venv/bin/python bench/bench_rest.py [--runs 3] [--duration 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

ENDPOINTS = {
    "ticker": "/v2/ticker/tBTCUSD",
    "book P0 len=25": "/v2/book/tBTCUSD/P0?len=25",
    "trades hist": "/v2/trades/tBTCUSD/hist",
}


# -- the server process -------------------------------------------------------------------------


async def _serve(port: int, data_dir: Path, seed_steps: int) -> None:
    from venue.config import load_settings
    from venue.gateway import admin
    from venue.gateway.server import VenueServer
    from venue.sim.market import SimConfig, build_simulation

    settings = replace(
        load_settings(data_dir=data_dir, port=port), rate_limits=False, durability="none"
    )
    server = VenueServer(settings)
    ctx = await server.start()

    async def create(name: str, deposits: dict[str, str]) -> int:
        return (await admin.create_account(ctx.submit, ctx.registry, name, deposits)).user_id

    sim = await build_simulation(ctx.submit, ctx.exchange, ctx.registry, SimConfig(seed=1), create)
    for _ in range(seed_steps):
        await sim.step()
    ctx.market_data.flush()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def serve_main(port: int, data_dir: Path, seed_steps: int) -> None:
    import uvloop

    uvloop.run(_serve(port, data_dir, seed_steps))


# -- baselines, measured in the same run (design.md: results are ratios against a baseline) ---

_FIXED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n[1]"


class _RawProtocol(asyncio.Protocol):
    """The ceiling of this machine: an HTTP/1.1 answer with no parsing at all (uvloop)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(_FIXED * data.count(b"\r\n\r\n"))  # type: ignore[attr-defined]


async def _serve_baseline(kind: str, port: int) -> None:
    if kind == "raw":
        server = await asyncio.get_running_loop().create_server(_RawProtocol, "127.0.0.1", port)
    else:
        from aiohttp import web

        async def status(request: web.Request) -> web.Response:
            return web.Response(body=b"[1]", content_type="application/json")

        app = web.Application()
        app.router.add_get("/v2/platform/status", status)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


# -- load generators -----------------------------------------------------------------------------


def _wrk(url: str, connections: int, duration: float) -> tuple[float, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99_text = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99_text is not None, out
    value, unit = float(p99_text.group(1)), p99_text.group(2)
    p99_ms = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    if "Non-2xx" in out:
        raise RuntimeError(f"errors during the run:\n{out}")
    return rps, p99_ms


async def _aiohttp_load(url: str, connections: int, duration: float) -> tuple[float, float]:
    import aiohttp

    latencies: list[float] = []
    deadline = time.perf_counter() + duration

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
            latencies.append(time.perf_counter() - start)

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return len(latencies) / elapsed, latencies[int(len(latencies) * 0.99)] * 1000


def load(url: str, connections: int, duration: float) -> tuple[float, float]:
    if shutil.which("wrk"):
        return _wrk(url, connections, duration)
    return asyncio.run(_aiohttp_load(url, connections, duration))


# -- main ---------------------------------------------------------------------------------------


def _wait_ready(port: int, process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"server did not start: {line!r}")
    urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/platform/status", timeout=5).read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--port", type=int, default=18999)
    parser.add_argument("--seed-steps", type=int, default=40)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", choices=("raw", "aiohttp"), help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_main(args.port, args.data_dir, args.seed_steps)
        return
    if args.baseline:
        import uvloop

        uvloop.run(_serve_baseline(args.baseline, args.port))
        return
    baselines = {
        kind: _measure_baseline(kind, args.port + 1, args.connections, args.duration, args.runs)
        for kind in ("raw", "aiohttp")
    }
    with tempfile.TemporaryDirectory(prefix="venue-bench-") as tmp:
        process = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--port", str(args.port), "--data-dir", tmp,
             "--seed-steps", str(args.seed_steps)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            _wait_ready(args.port, process)
            tool = "wrk -t1" if shutil.which("wrk") else "aiohttp client"
            print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                  f"Python {platform.python_version()}, load: {tool}, {args.connections} "
                  f"connections, {args.duration:g} s × {args.runs} runs, {time.strftime('%Y-%m-%d')}")  # fmt: skip
            print()
            print("| endpoint | req/s (median) | p99 ms (median) | runs req/s |")
            print("| --- | ---: | ---: | --- |")
            for name, path in ENDPOINTS.items():
                results = [
                    load(f"http://127.0.0.1:{args.port}{path}", args.connections, args.duration)
                    for _ in range(args.runs)
                ]
                rps = statistics.median(r[0] for r in results)
                p99 = statistics.median(r[1] for r in results)
                runs = ", ".join(f"{r[0]:.0f}" for r in results)
                print(f"| `{path}` | {rps:,.0f} | {p99:.2f} | {runs} |", flush=True)
            for kind, (rps, p99, runs) in baselines.items():
                label = {"raw": "baseline: raw uvloop protocol, fixed answer",
                         "aiohttp": "baseline: minimal aiohttp app, `[1]`"}[kind]  # fmt: skip
                print(f"| {label} | {rps:,.0f} | {p99:.2f} | {runs} |", flush=True)
        finally:
            process.terminate()
            process.wait(timeout=30)


def _measure_baseline(
    kind: str, port: int, connections: int, duration: float, runs: int
) -> tuple[float, float, str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--baseline", kind, "--port", str(port)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_ready(port, process)
        results = [
            load(f"http://127.0.0.1:{port}/v2/platform/status", connections, duration)
            for _ in range(runs)
        ]
    finally:
        process.terminate()
        process.wait(timeout=30)
    rps = statistics.median(r[0] for r in results)
    p99 = statistics.median(r[1] for r in results)
    return rps, p99, ", ".join(f"{r[0]:.0f}" for r in results)


if __name__ == "__main__":
    main()
