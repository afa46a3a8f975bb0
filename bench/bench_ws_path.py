"""The whole server-side order path of ``/ws/2`` without sockets: CPU per order.

A real ``VenueServer`` runs in this process (journal, sequencer, core, views, fan-out, the
WebSocket server's sessions); K authenticated ``WsSession`` objects are fed ``on`` frames
directly (``receive_text`` + ``WsServer.carry_out``), the way ``gateway/ws.py``'s handler
feeds them, and their output is drained with ``frames_to_send``. What is left out is the
socket: aiohttp's frame parsing, the event-loop wake-ups per message and the writes.

Measured: the loop thread's CPU time (``time.thread_time``: the journal's writer thread is not
counted) per order over 20,000 resting EXCHANGE LIMIT orders (the workload of
``bench_ws_orders.py``: seed 1, buys 10,000–19,999, sells 200,000–299,990, 0.001 BTC), in
chunks of 200 orders that share group commits; every 5,000 orders each session cancels all
its orders (not timed) so the book stays bounded. CPU time rather than wall time, so the
figure holds on a shared machine better than latency does (compare runs interleaved).

    .venv/bin/python bench/bench_ws_path.py                    # durability full
    .venv/bin/python bench/bench_ws_path.py --durability none --orders 50000
    .venv/bin/python bench/bench_ws_path.py --profile /tmp/path.prof   # cProfile of the timed part
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import hmac
import json
import random
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from venue.config import Settings  # noqa: E402
from venue.core.commands import CreateApiKey, CreateUser, Deposit  # noqa: E402
from venue.core.numbers import parse_amount  # noqa: E402
from venue.gateway.server import VenueServer  # noqa: E402
from venue.protocol.auth import full_permissions  # noqa: E402


def order_frames(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    frames = []
    for cid in range(1, count + 1):
        if rnd.random() < 0.5:
            amount, price = "0.001", str(rnd.randrange(10000, 20000))
        else:
            amount, price = "-0.001", str(rnd.randrange(20000, 30000) * 10)
        frames.append(
            '[0,"on",null,{"type":"EXCHANGE LIMIT","symbol":"tBTCUSD","amount":"%s","price":"%s","cid":%d}]'
            % (amount, price, cid)
        )
    return frames


async def run(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="venue-bench-path-"))
    settings = replace(Settings(), data_dir=data_dir, port=0, durability=args.durability, rate_limits=False)
    server = VenueServer(settings)
    ctx = await server.start()
    try:
        sequencer = ctx.sequencer
        ws_server = ctx.extras["ws_state"]
        sessions = []
        for i in range(args.connections):
            user_id = (await sequencer.submit(CreateUser(f"bench{i}")))[0].user_id
            await sequencer.submit(CreateApiKey(user_id, f"key{i}", f"secret{i}", full_permissions()))
            await sequencer.submit(Deposit(user_id, "USD", parse_amount("1000000000")))
            await sequencer.submit(Deposit(user_id, "BTC", parse_amount("1000000")))
            session = ws_server.new_session()
            nonce, payload = 1000 + i, f"AUTH{1000 + i}"
            sig = hmac.new(f"secret{i}".encode(), payload.encode(), hashlib.sha384).hexdigest()
            session.receive_text(
                json.dumps({"event": "auth", "apiKey": f"key{i}", "authSig": sig, "authNonce": nonce, "authPayload": payload})
            )
            ws_server.carry_out(session)
            sessions.append(session)
        frames = order_frames(args.orders, args.seed)
        await asyncio.sleep(0.2)
        for session in sessions:
            session.frames_to_send()
        gc.collect()
        profile = None
        if args.profile:
            import cProfile

            profile = cProfile.Profile()
        k, chunk = len(sessions), 200
        cpu = wall = 0.0
        sent = 0
        for start in range(0, len(frames), chunk):
            part = frames[start : start + chunk]
            target = sequencer.last_seq + len(part)
            t0, w0 = time.thread_time(), time.perf_counter()
            if profile is not None:
                profile.enable()
            for j, frame in enumerate(part):
                session = sessions[(start + j) % k]
                session.receive_text(frame)
                ws_server.carry_out(session)
            while sequencer.released_seq < target:
                await asyncio.sleep(0)
            for session in sessions:
                sent += len(session.frames_to_send())
            if profile is not None:
                profile.disable()
            cpu += time.thread_time() - t0
            wall += time.perf_counter() - w0
            if (start // chunk) % 25 == 24:  # cancel everything, untimed
                for session in sessions:
                    session.receive_text('[0,"oc_multi",null,{"all":1}]')
                    ws_server.carry_out(session)
                for _ in range(3):  # the task path (older gateways) stamps on the next turns
                    await asyncio.sleep(0.01)
                    await sequencer.flush()
                for session in sessions:
                    session.frames_to_send()
        n = len(frames)
        print(
            f"durability={args.durability} K={k} orders={n}: loop-thread CPU {cpu / n * 1e6:.1f} µs/order, "
            f"wall {wall / n * 1e6:.1f} µs/order, {sent / n:.2f} frames/order"
        )
        if profile is not None:
            profile.dump_stats(args.profile)
    finally:
        await server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--durability", choices=("full", "os", "none"), default="full")
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", default=None, help="write a cProfile of the timed part here")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(run(args))
    except ImportError:  # pragma: no cover
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
