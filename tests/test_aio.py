"""smime.aio: the operations leave the event loop free, and the documented pipeline signs,
encrypts and sends many messages over one SMTP connection with bounded concurrency."""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
from transport_servers import RecordingHandler, smtp_server

import smime
import smime.aio
from smime.errors import ParseError
from smime.transports import AsyncSMTPTransport

#: The longest pause of the heartbeat we accept while the verifications run (seconds).
MAX_GAP = 0.5


def statement(i: int, sender: str = "carol@example.com") -> bytes:
    return (
        f"From: {sender}\r\nTo: bob@example.com\r\nSubject: statement {i}\r\n"
        f"Content-Type: text/plain; charset=us-ascii\r\n\r\nStatement number {i}.\r\n"
    ).encode()


@pytest.fixture(scope="module")
def carol(pki):
    return pki["carol"].identity



async def with_heartbeat(make_work):
    """Run the awaitable ``make_work()`` while a task ticks every 5 ms (started first): its
    result, the longest gap between ticks and the time it all took."""
    ticks: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.01)
    try:
        result = await make_work()
    finally:
        done.set()
        await beat
    ticks.append(time.perf_counter())
    return result, max(b - a for a, b in itertools.pairwise(ticks)), ticks[-1] - ticks[0]


def test_200_concurrent_verifications_leave_the_loop_responsive(pki, carol, trust):
    alice = pki["alice"].identity
    messages = [smime.sign(statement(i, "alice@example.com"), alice).as_bytes()
                for i in range(200)]
    messages[42] = b"\x00 garbage"

    async def main():
        with ThreadPoolExecutor(max_workers=2) as pool:
            return await with_heartbeat(lambda: asyncio.gather(
                *(smime.aio.verify(m, trust, executor=pool) for m in messages),
                return_exceptions=True,
            ))

    results, gap, elapsed = asyncio.run(main())
    assert isinstance(results[42], ParseError)
    for i, result in enumerate(results):
        if i != 42:
            assert result.valid, result.problems
            assert result.content["Subject"] == f"statement {i}"
    # The work took several times the longest pause: had it run on the loop, one gap
    # would have been (nearly) all of it.
    assert gap < MAX_GAP, (gap, elapsed)
    assert elapsed > 4 * gap, (gap, elapsed)


def test_the_default_executor_is_the_loops(carol, trust):
    async def main():
        signed = await smime.aio.sign(statement(1), carol)
        opaque = await smime.aio.sign(statement(2), carol, detached=False, digest="sha384")
        return signed, await smime.aio.verify(opaque, trust)

    signed, result = asyncio.run(main())
    assert smime.verify(signed, trust).valid
    assert result.valid and result.signers[0].digest_algorithm == "sha384"


def test_every_operation_round_trips(pki, carol, trust):
    bob = pki["bob"].identity

    async def main():
        sealed = await smime.aio.encrypt(await smime.aio.sign(statement(7), carol),
                                         bob.certificate)
        inner = await smime.aio.decrypt(sealed, bob)
        opened = await smime.aio.unwrap(sealed, bob, trust)
        return inner, opened

    inner, opened = asyncio.run(main())
    assert smime.verify(inner, trust).valid
    assert opened.valid and opened.content["Subject"] == "statement 7"


def test_a_process_pool_runs_every_operation(pki, carol, trust):
    """Arguments and results cross the process boundary; a bare cryptography certificate
    (which does not pickle itself) travels as its DER."""
    bob = pki["bob"].identity

    async def main(pool):
        signed = await smime.aio.sign(statement(3), carol, executor=pool)
        sealed = await smime.aio.encrypt(signed, bob.certificate, executor=pool)
        inner = await smime.aio.decrypt(sealed, bob, executor=pool)
        result = await smime.aio.verify(inner, trust, executor=pool)
        opened = await smime.aio.unwrap(sealed, bob, trust, executor=pool)
        with pytest.raises(ParseError):
            await smime.aio.verify(b"\x00 garbage", trust, executor=pool)
        return result, opened

    with ProcessPoolExecutor(max_workers=1) as pool:
        result, opened = asyncio.run(main(pool))
    assert result.valid and result.content["Subject"] == "statement 3"
    assert opened.valid and opened.content["Subject"] == "statement 3"


def test_the_pipeline_sends_over_one_connection_with_bounded_concurrency(pki, carol):
    bob = pki["bob"].identity
    handler = RecordingHandler()
    count, limit = 30, 4
    active = peak = 0

    async def send_all(port: int):
        nonlocal active, peak
        gate = asyncio.Semaphore(limit)
        transport = AsyncSMTPTransport("127.0.0.1", port, starttls=False, timeout=10)

        async def one(message: bytes):
            nonlocal active, peak
            async with gate:
                active += 1
                peak = max(peak, active)
                try:
                    signed = await smime.aio.sign(message, carol)
                    sealed = await smime.aio.encrypt(signed, bob.certificate)
                    return await smime.transports.asend(sealed, transport)
                finally:
                    active -= 1

        async with transport:
            return await asyncio.gather(*(one(statement(i)) for i in range(count)))

    with smtp_server(handler) as server:
        results = asyncio.run(send_all(server.port))
        assert server.connections == 1
    assert len(results) == count and all(r.accepted == ("bob@example.com",) for r in results)
    assert 1 < peak <= limit
    subjects = sorted(
        str(smime.unwrap(r.data, bob).content["Subject"]) for r in handler.received
    )
    assert subjects == sorted(f"statement {i}" for i in range(count))
    assert all(r.rcpt_tos == ["bob@example.com"] for r in handler.received)


def test_an_executor_that_is_not_one_is_a_usage_error(carol):
    """The rule smime.batch uses (smime.options.check_executor), before anything runs."""
    with pytest.raises(smime.errors.UsageError, match=r"executor must be a concurrent\.futures"):
        asyncio.run(smime.aio.sign(b"Subject: x\r\n\r\nhi\r\n", carol, executor="threads"))
