"""smime.batch: results in input order, a bad message's error in its own item, any
executor (none, threads, processes), the generator form's bounded lookahead, the
arguments unpickled once per worker process, and the layer's cost per message."""

from __future__ import annotations

import itertools
import pickle
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import pytest

import smime
import smime.batch
from smime.errors import InvalidOptionError, ParseError, SMIMEError, UsageError


def statement(i: int) -> bytes:
    """A small message that says which one it is (its Subject and body)."""
    return (
        f"From: carol@example.com\r\nTo: bob@example.com\r\nSubject: statement {i}\r\n"
        f"Content-Type: text/plain; charset=us-ascii\r\n\r\nStatement number {i}.\r\n"
    ).encode()


GARBAGE = b"\x00\x01 this is not a message"


def hostile_signed() -> bytes:
    """multipart/signed whose signature part is not DER: a ParseError, not a result."""
    return (
        b"From: carol@example.com\r\nContent-Type: multipart/signed; "
        b'protocol="application/pkcs7-signature"; micalg=sha-256; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
        b"Content-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n"
        b"\r\nMIIB////\r\n--b--\r\n"
    )


@pytest.fixture(scope="module")
def carol(pki):
    return pki["carol"].identity



def subject(message: object) -> str:
    return str(smime.unwrap(message).content["Subject"])


@pytest.fixture(scope="module")
def process_pool():
    with ProcessPoolExecutor(max_workers=2) as pool:
        yield pool


EXECUTORS = ["none", "threads", "processes"]


@pytest.fixture(params=EXECUTORS)
def executor(request, process_pool):
    if request.param == "none":
        yield None
    elif request.param == "threads":
        with ThreadPoolExecutor(max_workers=2) as pool:
            yield pool
    else:
        yield process_pool


def test_sign_then_verify_in_order_with_errors_in_their_slots(executor, carol, trust):
    messages = [statement(i) for i in range(30)]
    messages[5] = GARBAGE
    messages[17] = hostile_signed()
    signed = smime.batch.sign(messages, carol, executor=executor, chunksize=4)
    assert [item.index for item in signed] == list(range(30))
    assert [i for i, item in enumerate(signed) if not item.ok] == [5]
    assert isinstance(signed[5].error, ParseError) and signed[5].value is None
    with pytest.raises(ParseError):
        signed[5].result()

    to_verify = [item.value if item.ok else GARBAGE for item in signed]
    to_verify[17] = hostile_signed()
    checked = smime.batch.verify(to_verify, trust, executor=executor, chunksize=3)
    assert [i for i, item in enumerate(checked) if not item.ok] == [5, 17]
    assert isinstance(checked[17].error, ParseError)
    for i, item in enumerate(checked):
        if i not in (5, 17):
            result = item.result()
            assert result.valid, result.problems
            assert result.content["Subject"] == f"statement {i}"


def test_encrypt_decrypt_and_unwrap_in_order(executor, pki, carol, trust):
    bob = pki["bob"].identity
    messages = [statement(i) for i in range(12)]
    sealed = smime.batch.encrypt(messages, [bob.certificate], executor=executor,
                                 cipher="aes-256-gcm")
    assert all(item.ok for item in sealed)
    inputs = [item.value for item in sealed]
    inputs[3] = GARBAGE
    opened = smime.batch.decrypt(inputs, bob, executor=executor, chunksize=5)
    assert [item.ok for item in opened] == [i != 3 for i in range(12)]
    for i, item in enumerate(opened):
        if i != 3:
            assert item.result()["Subject"] == f"statement {i}"
    wrong = smime.batch.decrypt(inputs[:2], carol, executor=executor)
    assert all(isinstance(item.error, smime.errors.DecryptionError) for item in wrong)

    signed_sealed = [smime.encrypt(smime.sign(statement(i), carol), bob.certificate)
                     for i in range(4)]
    layers = smime.batch.unwrap(signed_sealed, bob, trust, executor=executor)
    assert [item.result().content["Subject"] for item in layers] == [
        f"statement {i}" for i in range(4)]
    assert all(item.result().valid for item in layers)


def test_a_trust_path_is_read_once_by_the_caller(pki, carol, monkeypatch):
    signed = [smime.sign(statement(i), carol) for i in range(3)]
    reads = []
    original = smime.TrustStore.from_pem.__func__

    def counting(cls, source):
        reads.append(source)
        return original(cls, source)

    monkeypatch.setattr(smime.TrustStore, "from_pem", classmethod(counting))
    items = smime.batch.verify(signed, str(pki.root_path))
    assert all(item.result().valid for item in items)
    assert reads == [str(pki.root_path)]


def test_options_are_forwarded_and_checked_once(carol):
    der = smime.batch.sign([statement(1)], carol, format="der", detached=False)
    assert isinstance(der[0].result(), bytes) and der[0].result()[:1] == b"\x30"
    with pytest.raises(TypeError, match="digets"):
        smime.batch.sign([statement(1)], carol, digets="sha256")
    with pytest.raises(TypeError, match="digets"):
        smime.batch.imap_sign([statement(1)], carol, digets="sha256")  # before any next()
    bad = smime.batch.sign([statement(1), statement(2)], carol, digest="md4")
    assert all(isinstance(item.error, smime.errors.InvalidOptionError) for item in bad)


@pytest.mark.parametrize("form", ["bytes", "str", "path"])
def test_one_message_instead_of_many_is_a_usage_error(carol, form, tmp_path):
    path = tmp_path / "one.eml"
    path.write_bytes(statement(1))
    single = {"bytes": statement(1), "str": statement(1).decode(), "path": path}[form]
    with pytest.raises(UsageError, match="iterable of messages"):
        smime.batch.sign(single, carol)


@pytest.mark.parametrize("keyword, value, error", [
    ("executor", "threads", UsageError), ("chunksize", 0, InvalidOptionError),
    ("chunksize", 2.5, InvalidOptionError), ("in_flight", -1, InvalidOptionError),
    ("in_flight", True, InvalidOptionError),
])
def test_bad_batch_arguments_are_refused_at_the_call(carol, keyword, value, error):
    with pytest.raises(error, match=keyword):
        smime.batch.sign([statement(1)], carol, **{keyword: value})


def test_arguments_that_cannot_travel_are_a_usage_error_at_the_call(carol, process_pool):
    with pytest.raises(UsageError, match="cannot travel"):
        smime.batch.imap_sign([statement(1)], carol, executor=process_pool,
                              signing_time=lambda: None)


class CountingExecutor(ThreadPoolExecutor):
    """A thread pool that records how many submitted chunks are not yet collected."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def test_generator_form_holds_a_bounded_number_of_messages(carol):
    pulled = 0

    def endless() -> Iterator[bytes]:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield statement(i)

    with CountingExecutor() as pool:
        stream = smime.batch.imap_sign(endless(), carol, executor=pool, chunksize=4,
                                       in_flight=3)
        for consumed, item in enumerate(itertools.islice(stream, 50), start=1):
            assert item.index == consumed - 1
            assert subject(item.result()) == f"statement {item.index}"
            # never more than in_flight chunks read ahead of what was consumed
            assert pulled <= consumed + 3 * 4
            assert pool.submitted * 4 == pulled
        stream.close()  # the consumer stops: what is pending is cancelled, nothing more read
        assert pulled <= 50 + 3 * 4
        before = pulled
        time.sleep(0.05)
        assert pulled == before


def probe_decoded(_: object) -> int:
    """In the worker: how many times it unpickled a batch's arguments."""
    return smime.cache_info()["batch.jobs"].misses


def test_arguments_are_unpickled_once_per_worker_process(carol, pki):
    with ProcessPoolExecutor(max_workers=1) as pool:
        messages = [statement(i) for i in range(20)]
        items = smime.batch.sign(messages, carol, executor=pool, chunksize=2)  # 10 chunks
        assert all(item.ok for item in items)
        assert pool.submit(probe_decoded, None).result() == 1
        smime.batch.sign(messages, carol, executor=pool, chunksize=2)  # the same arguments
        assert pool.submit(probe_decoded, None).result() == 1
        smime.batch.sign(messages[:4], pki["alice"].identity, executor=pool, chunksize=2)
        assert pool.submit(probe_decoded, None).result() == 2


def test_each_message_may_have_its_own_recipients(executor, pki, carol):
    bob, alice = pki["bob"].identity, pki["alice"].identity
    owners = [bob, alice, carol, bob]
    pairs = [(statement(i), owner.certificate) for i, owner in enumerate(owners)]
    pairs.insert(2, statement(99))  # not a pair: a UsageError in its slot
    sealed = smime.batch.encrypt(pairs, None, executor=executor, chunksize=2)
    assert [item.ok for item in sealed] == [True, True, False, True, True]
    assert isinstance(sealed[2].error, UsageError)
    del sealed[2]
    for i, (item, owner) in enumerate(zip(sealed, owners, strict=True)):
        assert smime.decrypt(item.result(), owner)["Subject"] == f"statement {i}"
        other = alice if owner is not alice else bob
        with pytest.raises(smime.errors.DecryptionError):
            smime.decrypt(item.result(), other)


class Deduplicating(Executor):
    """Hands back the earlier future for a task equal to one already submitted, as Dask
    does for its ``pure`` tasks (an executor of its own kind: arguments are shipped)."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.seen: dict[bytes, object] = {}

    def submit(self, fn, /, *args, **kwargs):
        key = pickle.dumps((fn, args))
        if key not in self.seen:
            self.seen[key] = self.pool.submit(fn, *args, **kwargs)
        return self.seen[key]

    def shutdown(self, wait=True, *, cancel_futures=False):
        self.pool.shutdown(wait, cancel_futures=cancel_futures)


def test_equal_chunks_are_distinct_tasks_for_a_deduplicating_executor(pki):
    """Two equal messages encrypted in chunks of one must not share one output (one
    content-encryption key): every task carries a serial number of its own."""
    bob = pki["bob"].identity
    with Deduplicating() as pool:
        sealed = smime.batch.encrypt([statement(1)] * 3, bob.certificate, executor=pool,
                                     chunksize=1)
    outputs = {item.result().as_bytes() for item in sealed}
    assert len(outputs) == 3


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("not this one")


def test_an_error_that_cannot_travel_back_is_named_in_an_smime_error(monkeypatch):
    def fails(message, *args, **options):
        raise Unpicklable("the cause")

    monkeypatch.setattr(smime.api, "sign", fails)
    job = smime.batch._Job("sign", (None,), {})
    payload = pickle.dumps(job)
    [(value, error)] = smime.batch._run_shipped("t-unpicklable", payload,
                                                pickle.dumps([b"x"]), 0)
    assert value is None and type(error) is SMIMEError
    assert "Unpicklable: the cause" in str(error)
    pickle.dumps(error)


def test_per_message_cost_of_the_batch_layer_is_small(carol, monkeypatch):
    """The layer's own work per message (executor=None, around an operation that does
    nothing) against what signing a small message costs: at most 5 %. Best of several
    runs each, so that a neighbour's burst does not decide it."""
    messages = [statement(i) for i in range(200)]

    def best(run, repeat=7):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) / len(messages))
        return min(times)

    sign = best(lambda: [smime.sign(m, carol) for m in messages], repeat=3)
    monkeypatch.setattr(smime.api, "sign", lambda message, *args, **options: message)
    layer = best(lambda: [item.result() for item in smime.batch.imap_sign(messages, carol)])
    bare = best(lambda: [smime.api.sign(m, carol) for m in messages])
    assert layer - bare <= 0.05 * sign, (layer, bare, sign)


def test_header_protection_travels_through_a_batch(process_pool, pki, carol, trust):
    """RFC 9788 keywords are options like any other: sign with protected headers, encrypt
    with the baseline policy in worker processes; each message's Subject is hidden outside
    and comes back from the protected section."""
    bob = pki["bob"].identity
    signed = smime.batch.sign([statement(i) for i in range(6)], carol, executor=process_pool,
                              protect_headers=True, header_confidentiality="hcp_baseline")
    sealed = smime.batch.encrypt([item.result() for item in signed], [bob.certificate],
                                 executor=process_pool, protect_headers=True)
    assert [item.result()["Subject"] for item in sealed] == ["[...]"] * 6
    opened = smime.batch.unwrap([item.result() for item in sealed], bob, trust,
                                executor=process_pool)
    for i, item in enumerate(opened):
        result = item.result()
        assert result.valid and result.header_protection
        assert dict(result.headers)["Subject"] == f"statement {i}"
