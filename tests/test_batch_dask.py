"""smime.batch on a real Dask cluster: two worker processes sign, verify, encrypt and
decrypt 500 messages; results come back in input order, a hostile message's error in its
own item. Skips when dask[distributed] is missing (SMIME_REQUIRE_PEERS=1, set in CI,
makes that a failure: the ``test`` extra installs it)."""

from __future__ import annotations

import os

import pytest

import smime
import smime.batch
from smime.errors import ParseError

pytestmark = pytest.mark.slow

COUNT = 500


def nested(depth: int) -> bytes:
    """multipart inside multipart, ``depth`` deep: past the parser's nesting cap."""
    message = b"Content-Type: text/plain\r\n\r\nx\r\n"
    for d in range(depth):
        message = (f'Content-Type: multipart/mixed; boundary="b{d}"\r\n\r\n--b{d}\r\n'.encode()
                   + message + f"\r\n--b{d}--\r\n".encode())
    return message


HOSTILE = {3: b"\x00\x00 not a message", 250: nested(500)}


def statement(i: int) -> bytes:
    return (
        f"From: carol@example.com\r\nTo: carol@example.com\r\nSubject: statement {i}\r\n"
        f"Content-Type: text/plain; charset=us-ascii\r\n\r\nStatement number {i}.\r\n"
    ).encode()


@pytest.fixture(scope="module")
def executor():
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        reason = "dask[distributed] is not installed (pip install 'smime-sdk[dask]')"
        if os.environ.get("SMIME_REQUIRE_PEERS") == "1":
            pytest.fail(f"{reason} (SMIME_REQUIRE_PEERS=1 makes this a failure)")
        pytest.skip(reason)
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client.get_executor()


def with_hostile(messages: list[bytes]) -> list[bytes]:
    out = list(messages)
    for index, message in HOSTILE.items():
        out[index] = message
    return out


def test_sign_verify_encrypt_decrypt_500_messages_on_a_local_cluster(executor, pki):
    carol = pki["carol"].identity
    trust = smime.TrustStore.from_pem(pki.root_path)
    messages = with_hostile([statement(i) for i in range(COUNT)])

    signed = smime.batch.sign(messages, carol, executor=executor)
    assert [item.index for item in signed] == list(range(COUNT))
    assert {i for i, item in enumerate(signed) if not item.ok} == set(HOSTILE)
    assert all(isinstance(signed[i].error, ParseError) for i in HOSTILE)

    checked = smime.batch.verify(
        with_hostile([item.value if item.ok else b"" for item in signed]), trust,
        executor=executor,
    )
    assert {i for i, item in enumerate(checked) if not item.ok} == set(HOSTILE)
    for i, item in enumerate(checked):
        if i not in HOSTILE:
            result = item.result()
            assert result.valid, (i, result.problems)
            assert result.content["Subject"] == f"statement {i}"
            assert result.signers[0].certificate == carol.certificate

    sealed = smime.batch.encrypt(messages, carol.certificate, executor=executor,
                                 chunksize=50)
    assert {i for i, item in enumerate(sealed) if not item.ok} == set(HOSTILE)
    opened = smime.batch.decrypt(
        with_hostile([item.value if item.ok else b"" for item in sealed]), carol,
        executor=executor,
    )
    assert {i for i, item in enumerate(opened) if not item.ok} == set(HOSTILE)
    assert all(isinstance(opened[i].error, ParseError) for i in HOSTILE)
    for i, item in enumerate(opened):
        if i not in HOSTILE:
            assert item.result()["Subject"] == f"statement {i}"
            assert f"Statement number {i}.".encode() in item.result().as_bytes()


def test_the_generator_form_streams_from_the_cluster(executor, pki):
    carol = pki["carol"].identity
    stream = smime.batch.imap_sign((statement(i) for i in range(120)), carol,
                                   executor=executor, chunksize=10, in_flight=2)
    subjects = [str(smime.unwrap(item.result()).content["Subject"]) for item in stream]
    assert subjects == [f"statement {i}" for i in range(120)]
