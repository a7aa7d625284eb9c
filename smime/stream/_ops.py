"""sign, encrypt, decrypt and verify from a source to a destination, in blocks."""

from __future__ import annotations

import contextlib
import functools
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Literal, TypeAlias

from cryptography.hazmat.primitives import hashes

from .. import mime
from ..algorithms import CIPHERS, DIGESTS, digest_from_micalg
from ..api import keywords
from ..api.receiving import unauthenticated_refused
from ..api.streaming import (
    Checks,
    RecipientInput,
    header_protection,
    micalg,
    recipient_specs,
    signed_result,
    signer_specs,
    stored_signer_certificates,
    verification_checks,
)
from ..cms import (
    SignedStream,
    decrypt_enveloped_stream,
    digest_blocks,
    encrypt_enveloped_stream,
    read_signed_stream,
    signer_digest_names,
    verify_signed_digests,
)
from ..core.der import StreamReader
from ..core.wire import b64_encode, has_long_line, to_crlf
from ..errors import DecryptionError, Option, ParseError, SMIMEError, UsageError
from ..keys import Identity, check_identity
from ..limits import accepts_limits
from ..options import WIRE_FORMATS, WireFormat, check_option
from ..problems import Problem, ProblemCode
from ..results import DecryptionInfo, VerificationResult
from ..validation import TrustStore
from ._io import BLOCK, Output, Progress, Reader, Source, Target, opened
from ._wire import Base64Writer, b64_decoded, crlf_blocks, split_head

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["OutputFormat", "decrypt", "encrypt", "sign", "verify"]

#: What ``format=`` takes: the in-memory API's vocabulary (``smime.options.WireFormat``).
OutputFormat: TypeAlias = WireFormat
#: A body that is not 7-bit safe is canonicalised in memory (by smime.sign's own code)
#: up to this size; a larger one must arrive safe (base64 attachments, as mail has them).
#: The raw input is kept until it passes this size, in case it must be read again.
_IN_MEMORY = 8 * 1024 * 1024
#: The signature part and close of a multipart/signed, read whole after the content.
_MAX_TAIL = 16 * 1024 * 1024
#: Decrypted or signed content read before its header block is known to end.
_HEAD_SAMPLE = 1 << 16
_PEM_LABEL = b"CMS"


# ---------------------------------------------------------------------------- the entity


class _Unsafe(Exception):
    """The body needs a transfer encoding: only the in-memory canonicalisation does that."""


def _checked(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Canonical (CRLF) body blocks, passed on once each is known to need no transfer
    encoding (RFC 8551 §3.1.2); :class:`_Unsafe` otherwise. The seam between two blocks
    is checked on its own, so no block is copied."""
    tail = b""
    for block in blocks:
        if not tail and block.startswith(b"From "):
            raise _Unsafe
        if not block.isascii() or b"\x00" in block or not _safe_text(block):
            raise _Unsafe
        if tail and not _safe_text(tail + block[:1000]):
            raise _Unsafe
        tail = block[-1000:]
        yield block
    if tail.endswith((b" ", b"\t")):
        raise _Unsafe


def _safe_text(data: bytes) -> bool:
    """No ``From `` line start, no white space before a line end, no line too long."""
    if b"\nFrom " in data:
        return False
    if (b" " in data or b"\t" in data) and (b" \r" in data or b"\t\r" in data):
        return False
    return not has_long_line(data)


def _sample_body(head: bytes) -> bytes | None:
    """A tiny safe body of the entity's type, to learn the canonical header block from
    :func:`smime.mime.prepare_entity` itself; None when the type needs more than that."""
    with contextlib.suppress(SMIMEError):
        block = head if head.strip() else b"\r\n"
        msg = mime.read_entity(block, 0, len(block)).headers
        kind = msg.get_content_type()
        if kind.startswith("multipart/"):
            boundary = msg.get_boundary()
            if not boundary or not boundary.isascii():
                return None
            delimiter = b"--" + boundary.encode("ascii")
            return delimiter + b"\r\n\r\nx\r\n" + delimiter + b"--\r\n"
        if kind.startswith("message/"):
            return None
        return b"x\r\n"
    return None


class _Replay:
    """The raw input read so far, while it is small enough to canonicalise in memory."""

    def __init__(self, head: bytes) -> None:
        self.kept: list[bytes] | None = [head]
        self.size = len(head)

    def add(self, block: bytes) -> None:
        if self.kept is not None:
            self.size += len(block)
            if self.size > _IN_MEMORY:
                self.kept = None
            else:
                self.kept.append(block)

    def watch(self, blocks: Iterable[bytes]) -> Iterator[bytes]:
        for block in blocks:
            self.add(block)
            yield block

    def whole(self, reader: Reader) -> bytes:
        """Everything, the rest of the input read too; UsageError beyond the size."""
        for block in reader.blocks():
            self.add(block)
        if self.kept is None:
            raise UsageError.naming(
                "this message cannot be streamed: its body is not 7-bit safe (8-bit text, "
                "binary data, long lines or a signed part) and only bodies up to "
                f"{_IN_MEMORY} bytes are canonicalised in memory; attach large data "
                "base64-encoded, or pass ", Option("format='der'"),
                " to protect the bytes as they are",
            )
        return b"".join(self.kept)


Entity = tuple[bytes, tuple[tuple[str, str], ...], Iterable[bytes]]


def _protect(
    reader: Reader, form: str, out: Output, run: Callable[[Entity], None], *,
    headers: tuple[Literal["clear", "cipher"], mime.HeaderPolicy | None] | None,
    legacy_display: bool,
) -> None:
    """Call ``run`` with what gets protected, read once: (entity head, outer headers,
    canonical body in blocks); with its header section inside when ``headers`` (the hp
    marking and policy :func:`~smime.api.sending.header_protection` chose) say so.

    For S/MIME output that is :func:`smime.mime.prepare_entity`'s entity, without holding
    the body: its header block is canonicalised by prepare_entity over a sample body, and
    a body already 7-bit safe only has its line ends made CRLF, checked as it passes. A
    body found to need more is canonicalised in memory (up to 8 MiB; the output so far is
    dropped and ``run`` called again), or refused. Raw CMS output protects the input's
    bytes as they are (as ``openssl cms -binary``).
    """
    if form != "smime":
        run((b"", (), reader.blocks()))
        return
    if headers is not None:
        run = _with_header_protection(run, *headers, legacy_display=legacy_display)
    head, rest = split_head(reader.read, b"")
    replay = _Replay(head)
    sample = _sample_body(head)
    prepared = mime.prepare_entity(head + sample) if sample is not None else None
    if prepared is not None and sample is not None and prepared.entity.endswith(sample):
        entity_head = prepared.entity[: len(prepared.entity) - len(sample)]
        try:
            run((entity_head, prepared.outer_headers,
                 _checked(crlf_blocks(replay.watch(reader.blocks(rest))))))
            return
        except _Unsafe:
            out.reset()
    else:
        replay.add(rest)
    whole = mime.prepare_entity(replay.whole(reader))
    run((whole.entity, whole.outer_headers, ()))


def _with_header_protection(
    run: Callable[[Entity], None], hp: Literal["clear", "cipher"],
    policy: mime.HeaderPolicy | None, *, legacy_display: bool,
) -> Callable[[Entity], None]:
    """``run`` for the entity with its header section inside (RFC 9788), as
    :func:`smime.mime.protect_entity` makes it; the body still passes in blocks (a marker
    stands for it while the head and any Legacy Display Element are composed)."""

    def protected(entity: Entity) -> None:
        head, outer, body = entity
        if head.lower().startswith((b"content-type: multipart/signed",
                                    b"content-type: application/pkcs7-mime",
                                    b"content-type: application/x-pkcs7-mime")):
            raise UsageError(
                "protect_headers=True: this message is already S/MIME; its protected headers "
                "must be under its signature (smime.sign(..., protect_headers=True, "
                "header_confidentiality=...)), then encrypt it without protect_headers"
            )
        marker = b"@@smime-stream-" + secrets.token_hex(16).encode("ascii") + b"@@"
        prepared = mime.PreparedEntity((head, marker), outer)
        wrapped = None
        if legacy_display:
            # The element goes in front of the body; only a text body whose transfer
            # encoding it keeps can take it without being read (a base64 or multipart
            # body goes without one).
            with contextlib.suppress(SMIMEError):
                wrapped = mime.protect_entity(prepared, hp=hp, policy=policy)
            if wrapped is not None and not _spliced(head, wrapped.entity, marker):
                wrapped = None
        if wrapped is None:
            wrapped = mime.protect_entity(prepared, hp=hp, policy=policy, legacy_display=False)
        before, after = wrapped.entity.split(marker)
        run((before, wrapped.outer_headers, _then(body, after)))

    return protected


def _spliced(head: bytes, entity: bytes, marker: bytes) -> bool:
    """Whether the body can follow ``entity``'s head in place of ``marker`` unchanged: the
    marker is there once, at the end, and the transfer encoding is the one it came with."""
    def encoding(data: bytes) -> bytes:
        for line in data.split(b"\r\n\r\n", 1)[0].lower().split(b"\r\n"):
            if line.startswith(b"content-transfer-encoding:"):
                return line.partition(b":")[2].strip()
        return b"7bit"

    return entity.count(marker) == 1 and entity.endswith(marker) and (
        encoding(entity) == encoding(head) and encoding(head) != b"base64")


def _then(body: Iterable[bytes], tail: bytes) -> Iterator[bytes]:
    yield from body
    if tail:
        yield tail


def _pem_writer(write: Callable[[bytes], object]) -> tuple[Callable[[bytes], None],
                                                            Callable[[], None]]:
    """A writer of PEM (RFC 7468) around a base64 writer."""
    write(b"-----BEGIN " + _PEM_LABEL + b"-----\n")
    encoder = Base64Writer(write, crlf=False)

    def close() -> None:
        encoder.close()
        write(b"-----END " + _PEM_LABEL + b"-----\n")

    return encoder.write, close


# ---------------------------------------------------------------------------- sending


@keywords.spelled_out(keywords.SignCall, keywords.SIGN_CALL_DEFAULTS, before="progress")
def sign(
    src: Source, dst: Target, signer: Identity | Sequence[Identity], *,
    progress: Progress | None = None, **options: Unpack[keywords.SignCall],
) -> None:
    """Sign the message read from ``src`` into ``dst``, as :func:`smime.sign` does, in
    blocks: multipart/signed when ``detached``, else opaque signed-data (BER, indefinite
    lengths). ``format="der"``/``"pem"`` write the raw CMS (a detached one is the .p7s
    alone) over the input's bytes as they are. ``progress(n)`` hears of each block read.
    ``protect_headers``, ``header_confidentiality`` and ``legacy_display`` as for
    :func:`smime.sign` (RFC 9788 header protection).
    """
    o = keywords.settled("sign", options, keywords.SIGN_CALL_DEFAULTS)
    format = check_option("format", o["format"], WIRE_FORMATS)
    protection = header_protection(format, o, signing=True)
    specs = signer_specs(signer, o)
    detached, signing_time = o["detached"], o["signing_time"]
    with opened(src, progress) as reader, Output(dst, hold=True) as out:

        def run(entity: Entity) -> None:
            head, outer, body = entity
            stream = SignedStream(specs, detached=detached, signing_time=signing_time)
            if format == "smime" and detached:
                _write_multipart_signed(out.write, stream, head, outer, body, micalg(specs))
                return
            write, close = _cms_sink(out.write, format, "signed-data", outer)
            write(stream.head())
            for block in _entity_blocks(head, body):
                write(stream.update(block))
            write(stream.finish())
            close()

        _protect(reader, format, out, run, headers=protection,
                 legacy_display=o["legacy_display"])
        out.commit()


def _nothing() -> None:
    return None


def _cms_sink(
    write: Callable[[bytes], object], form: str, smime_type: str,
    outer: Sequence[tuple[str, str]],
) -> tuple[Callable[[bytes], object], Callable[[], None]]:
    """(write, close) for CMS on its way out: base64 in an application/pkcs7-mime
    message, PEM, or as it is (DER/BER)."""
    if form == "smime":
        encoder = _pkcs7_writer(write, smime_type, outer)
        return encoder.write, encoder.close
    if form == "pem":
        return _pem_writer(write)
    return write, _nothing


def _entity_blocks(head: bytes, body: Iterable[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from body


def _write_multipart_signed(
    write: Callable[[bytes], object], stream: SignedStream, head: bytes,
    outer: Sequence[tuple[str, str]], body: Iterable[bytes], micalg_value: str,
) -> None:
    """multipart/signed as :func:`smime.mime.build_multipart_signed` writes it: its
    framing is taken from that function, around a marker where the entity goes."""
    marker = b"@@smime-stream-" + secrets.token_hex(16).encode("ascii") + b"@@"
    wire = mime.build_multipart_signed(
        head + marker, b"\x30\x00", micalg=micalg_value, outer_headers=outer
    ).as_bytes()
    before, after = wire.split(marker)
    before = before[: len(before) - len(head)]
    placeholder = b"MAA=\r\n"  # base64 of the two bytes above
    sig_head, _, close = after.partition(placeholder)
    write(before)
    for block in _entity_blocks(head, body):
        stream.update(block)
        write(block)
    write(sig_head + b64_encode(stream.finish()) + close)


def _pkcs7_writer(write: Callable[[bytes], object], smime_type: str,
                  outer: Sequence[tuple[str, str]]) -> Base64Writer:
    """application/pkcs7-mime headers as :func:`smime.mime.build_pkcs7_mime` writes
    them, then a base64 writer for the CMS."""
    write(mime.build_pkcs7_mime(b"", smime_type=smime_type, outer_headers=outer).as_bytes())
    return Base64Writer(write)


@keywords.spelled_out(keywords.EncryptCall, keywords.ENCRYPT_CALL_DEFAULTS, before="progress")
def encrypt(
    src: Source, dst: Target, recipients: RecipientInput | Sequence[RecipientInput], *,
    progress: Progress | None = None, **options: Unpack[keywords.EncryptCall],
) -> None:
    """Encrypt the message read from ``src`` into ``dst``, as :func:`smime.encrypt` does
    (same recipients, same choice of cipher), in blocks: the CMS is BER with indefinite
    lengths, as ``openssl cms -encrypt -stream`` writes it. ``format="der"``/``"pem"``
    write the raw CMS over the input's bytes as they are. ``protect_headers``,
    ``header_confidentiality`` and ``legacy_display`` as for :func:`smime.encrypt`; a
    message signed with protected headers is encrypted without ``protect_headers`` (its
    outer headers already follow the signer's policy).
    """
    o = keywords.settled("encrypt", options, keywords.ENCRYPT_CALL_DEFAULTS)
    format = check_option("format", o["format"], WIRE_FORMATS)
    protection = header_protection(format, o, signing=False)
    specs, chosen = recipient_specs(recipients, o)
    smime_type = "authEnveloped-data" if CIPHERS[chosen].authenticated else "enveloped-data"
    with opened(src, progress) as reader, Output(dst, hold=True) as out:

        def run(entity: Entity) -> None:
            head, outer, body = entity
            write, close = _cms_sink(out.write, format, smime_type, outer)
            encrypt_enveloped_stream(_entity_blocks(head, body), write, specs,
                                     cipher=chosen)
            close()

        _protect(reader, format, out, run, headers=protection,
                 legacy_display=o["legacy_display"])
        out.commit()


# ---------------------------------------------------------------------------- receiving


class _Feed:
    """Blocks as a ``read(n)`` for :class:`~smime.core.der.StreamReader`."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        self._blocks = iter(blocks)

    def read(self, _n: int) -> bytes:
        return next(self._blocks, b"")


def _pem_blocks(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """The base64 text between a PEM file's BEGIN and END lines."""
    it = iter(blocks)
    data = b""
    for block in it:
        data += block
        eol = data.find(b"\n")
        if eol >= 0:
            data = data[eol + 1 :]
            break
        if len(data) > 1024:
            raise ParseError("malformed PEM: no line break after the BEGIN line")
    else:
        raise ParseError("malformed PEM: nothing after the BEGIN line")
    for block in _chain(data, it):
        end = block.find(b"-")
        if end >= 0:
            yield block[:end]
            return
        yield block
    raise ParseError("malformed PEM: no END line")


def _chain(first: bytes, rest: Iterable[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


class _Input:
    """What a streamed message to open turned out to be."""

    def __init__(self, kind: str, cms: StreamReader | None,
                 outer: tuple[tuple[str, str], ...] = (), head: bytes = b"",
                 rest: bytes = b"", message: object = None) -> None:
        self.kind = kind  # "cms" (raw, or the body of application/pkcs7-mime) | "signed"
        self.cms = cms
        self.outer = outer
        self.head = head
        self.rest = rest
        self.message = message
        self.raw = kind == "cms" and not head


def _classify(reader: Reader, what: str) -> _Input:
    """A raw CMS file (DER/BER or PEM), or a message: application/pkcs7-mime (its body
    decoded in blocks) or multipart/signed (left to :func:`_verify_multipart`)."""
    first = reader.read(BLOCK)
    if not first:
        raise ParseError("not an email message: the input is empty")
    if first[:1] == b"\x30":
        return _Input("cms", StreamReader(_Feed(reader.blocks(first)).read, what))
    if first.lstrip()[:10] == b"-----BEGIN":
        text = _pem_blocks(reader.blocks(first.lstrip()))
        return _Input("cms", StreamReader(_Feed(b64_decoded(text, "PEM file")).read, what))
    head, rest = split_head(reader.read, first)
    # Read as the in-memory API reads headers (no quadratic header parsing on hostile fields)
    msg = mime.read_entity(head, 0, len(head)).headers
    if msg.get_content_type() == "multipart/signed":
        return _Input("signed", None, head=head, rest=rest, message=msg)
    found = mime.find_smime_part(head + b"MAA=\r\n")
    if found is None or found.path or found.kind != "application/pkcs7-mime":
        raise ParseError(
            "not a message smime.stream opens: it reads a message whose body is "
            "application/pkcs7-mime or multipart/signed, or a raw CMS file (DER or PEM); "
            "use smime.decrypt/smime.verify for S/MIME parts nested in a multipart"
        )
    cte = str(msg.get("content-transfer-encoding") or "").strip().lower()
    body = reader.blocks(rest)
    if cte == "base64" or (rest[:1] != b"\x30" and cte not in ("binary", "8bit")):
        body = b64_decoded(body, "S/MIME part")
    return _Input("cms", StreamReader(_Feed(body).read, what), found.outer_headers, head=head)


class _Shown:
    """Content on its way out, written as :func:`smime.mime.parse_inner` shows it (the
    outer headers it lacks in front, CRLF line ends), and its header block kept.

    Content that cannot be shown is an error raised by :meth:`close`, not when it is
    found: decrypted content is parsed before its GCM tag or CBC padding was checked,
    and an error that came sooner for some plaintexts than for others would tell an
    attacker about content that was never authenticated.
    """

    def __init__(self, write: Callable[[bytes], object] | None,
                 outer: Sequence[tuple[str, str]], *, raw: bool) -> None:
        self._write = write
        self._outer = outer
        self._raw = raw
        self._head = b""
        self.head = b""
        self._started = False
        self._carry = b""
        self._error: SMIMEError | None = None

    def __call__(self, data: bytes) -> None:
        if not self._started:
            self._head += data
            if len(self._head) < _HEAD_SAMPLE and not _ends_header(self._head):
                return
            self._start()
            return
        self._body(data)

    def _start(self) -> None:
        self._started = True
        data, self._head = self._head, b""
        try:
            block, rest = split_head(lambda _n: b"", data[:_HEAD_SAMPLE])
            rest += data[_HEAD_SAMPLE:]
        except ParseError:
            block, rest = data, b""
        self.head = block
        if self._write is None:
            return
        if self._raw:
            self._write(data)
            return
        if block.endswith(b"\r"):
            block, rest = block[:-1], b"\r" + rest
        try:
            shown = mime.parse_inner(block, self._outer).as_bytes()
        except SMIMEError as exc:
            self._error, self._write = exc, None
            return
        self._write(shown)
        self._body(rest)

    def _body(self, data: bytes) -> None:
        if self._write is None or not data:
            return
        if self._raw:
            self._write(data)
            return
        data = self._carry + data
        self._carry = b""
        if data.endswith(b"\r"):
            data, self._carry = data[:-1], b"\r"
        if data:
            self._write(to_crlf(data, lone_cr=False))

    def close(self) -> None:
        if not self._started:
            self._start()
        if self._carry and self._write is not None:
            self._write(self._carry)
            self._carry = b""
        if self._error is not None:
            raise self._error


def _ends_header(data: bytes) -> bool:
    return data.startswith((b"\r\n", b"\n")) or b"\n\r\n" in data or b"\n\n" in data


@accepts_limits
@keywords.spelled_out(keywords.DecryptOptions, keywords.DECRYPT_DEFAULTS, before="progress")
def decrypt(
    src: Source,
    dst: Target,
    identity: Identity,
    *,
    progress: Progress | None = None,
    **options: Unpack[keywords.DecryptOptions],
) -> DecryptionInfo:
    """Decrypt the message or raw CMS file read from ``src`` into ``dst``, in blocks.

    Nothing reaches ``dst`` until the content is known good: it is written to a temporary
    file beside a ``dst`` path (a temporary file for a file object) and moved into place
    only after the AES-GCM tag verified, or for CBC after the whole input was read and
    unpadded; on any failure ``dst`` is untouched and the temporary file removed. A
    message is written as :func:`smime.decrypt` shows it, a raw CMS file's content as it
    is. ``require_authenticated``, ``certificates`` and ``limits`` as for
    :func:`smime.decrypt`.
    """
    o = keywords.settled("decrypt", options, keywords.DECRYPT_DEFAULTS)
    require_authenticated = o["require_authenticated"]
    identity = check_identity(identity)
    signature_checks = verification_checks(
        None, {**keywords.CHECK_DEFAULTS, "revocation": "off", "certificates": o["certificates"]}
    )
    with opened(src, progress) as reader, Output(dst, hold=True) as out:
        found = _classify(reader, "CMS enveloped data")
        if found.kind != "cms" or found.cms is None:
            raise ParseError("not an S/MIME encrypted message: no application/pkcs7-mime part")
        shown = _Shown(out.write, found.outer, raw=found.raw)
        kind: list[bool] = []
        try:
            info = decrypt_enveloped_stream(found.cms, identity, shown, announce=kind.append)
        except DecryptionError:
            if require_authenticated and kind == [False]:  # one message for every cause
                raise unauthenticated_refused("intact signature") from None
            raise
        try:
            shown.close()
        except SMIMEError:
            if require_authenticated and not info.authenticated:
                raise unauthenticated_refused("intact signature") from None
            raise
        if require_authenticated and not info.authenticated and not _signed_whole(
            out.file, signature_checks
        ):
            raise unauthenticated_refused("intact signature")
        out.commit()
    return DecryptionInfo(cipher=info.cipher, authenticated=info.authenticated,
                          key_management=info.key_management, content_type=info.content_type)


def _signed_whole(file: IO[bytes], checks: Checks) -> bool:
    """Whether the decrypted content is, as a whole, a signed message whose signature
    matches it (trust not judged: ``checks`` trust nothing), read back from the held
    output."""
    file.flush()
    file.seek(0)
    try:
        result = _verify_reader(Reader(file), checks, None, None)
    except SMIMEError:
        return False
    finally:
        file.seek(0, 2)
    return any(s.intact and s.signature_valid for s in result.signers)


@accepts_limits
@keywords.spelled_out(keywords.CheckOptions, keywords.CHECK_DEFAULTS, before="progress")
def verify(
    src: Source,
    *,
    trust: TrustStore | None = None,
    content: Source | None = None,
    output: Target | None = None,
    progress: Progress | None = None,
    **options: Unpack[keywords.CheckOptions],
) -> VerificationResult:
    """Verify the signed message or raw CMS file read from ``src``, in blocks, as
    :func:`smime.verify` does (the same keywords, ``certificates`` and ``store`` included;
    an invalid signature is a result).

    A detached ``.p7s`` is checked against ``content`` (a path or file, its bytes as they
    are). ``output`` receives the signed content (a message as :func:`smime.verify`
    shows it, a raw CMS file's content as it is); it is written whatever the verdict, so
    read ``result.valid`` before using it. ``result.content`` holds the signed headers
    only (the body went to ``output``).
    """
    settled = keywords.settled("verify", options, keywords.CHECK_DEFAULTS)
    checks = verification_checks(trust, settled)
    with opened(src, progress) as reader, contextlib.ExitStack() as stack:
        out = stack.enter_context(Output(output, hold=False, what="output")) \
            if output is not None else None
        result = _verify_reader(reader, checks, content, out)
        if out is not None:
            out.commit()
    return result


def _verify_reader(reader: Reader, checks: Checks, content: Source | None,
                   out: Output | None) -> VerificationResult:
    start = _tell(reader.file)
    found = _classify(reader, "CMS signed data")
    write = out.write if out is not None else None
    if found.kind == "signed":
        if content is not None:
            raise UsageError("content= is for a detached .p7s; this message carries its content")
        return _verify_multipart(reader, found, checks, write, start)
    assert found.cms is not None
    shown = _Shown(write, found.outer, raw=found.raw)
    detached = None if content is None else _content_digests(content)
    info = read_signed_stream(found.cms, shown, detached=detached,
                              extra_certificates=checks.certificates,
                              more_certificates=functools.partial(
                                  stored_signer_certificates, checks=checks))
    shown.close()
    return signed_result(info, checks=checks, outer_headers=found.outer,
                         entity_head=shown.head, detached=info.detached, mail=not found.raw)


def _tell(file: IO[bytes]) -> int | None:
    """Where a seekable input starts (to read it again), else None."""
    try:
        return file.tell() if file.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


def _content_digests(content: Source) -> Callable[[list[str]], dict[str, bytes]]:
    def digests(names: list[str]) -> dict[str, bytes]:
        with opened(content, what="content") as reader:
            return digest_blocks(names, reader.blocks())

    return digests


def _verify_multipart(reader: Reader, found: _Input, checks: Checks,
                      write: Callable[[bytes], object] | None, start: int | None
                      ) -> VerificationResult:
    """multipart/signed: the first part hashed (and shown) as it streams by, then the
    signature part read whole and checked against the digests.

    The digests are the ones micalg names; a signer that used another is checked by
    reading the input again when it is a file that seeks (else it is not intact, and a
    warning says why)."""
    msg = found.message
    boundary = msg.get_boundary() if hasattr(msg, "get_boundary") else None
    if not boundary or not boundary.isascii():
        raise ParseError("malformed multipart/signed: no boundary")
    delimiter = b"--" + boundary.encode("ascii")
    probe = mime.find_smime_part(
        found.head + delimiter + b"\r\n\r\nx\r\n" + delimiter
        + b"\r\nContent-Type: application/pkcs7-signature\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nMAA=\r\n" + delimiter + b"--\r\n"
    )
    if probe is None or probe.path or probe.kind != "multipart/signed":
        raise ParseError("malformed multipart/signed message")
    names = [d.name for d in (digest_from_micalg(m) for m in (probe.micalg or "").split(","))
             if d is not None] or ["sha256", "sha384", "sha512"]
    running = _Digests(names)
    shown = _Shown(write, probe.outer_headers, raw=False)
    blocks = reader.blocks(found.rest)

    def take(data: bytes) -> None:
        running.update(data)
        shown(data)

    tail = _signed_part(blocks, delimiter, take)
    shown.close()
    for block in blocks:
        tail += block
        if len(tail) > _MAX_TAIL:
            raise ParseError("malformed multipart/signed: the signature part is too large")
    whole = mime.find_smime_part(
        found.head + delimiter + b"\r\n\r\nx\r\n" + tail
    )
    if whole is None or whole.kind != "multipart/signed" or whole.der is None:
        raise ParseError("malformed multipart/signed: no signature part")
    digests = running.finish()
    missing = [n for n in signer_digest_names(whole.der) if n not in digests]
    notes: list[Problem] = []
    if missing and start is not None:
        reader.file.seek(start)
        rest = split_head(reader.file.read, b"")[1]
        again = _Digests(missing)
        _signed_part(Reader(reader.file).blocks(rest), delimiter, again.update)
        digests.update(again.finish())
    elif missing:
        notes.append(Problem(ProblemCode.MALFORMED, (
            f"the micalg parameter ({probe.micalg}) does not name the digest a signer used "
            f"({', '.join(missing)}), and the input could not be read again to compute it")))
    info = verify_signed_digests(
        whole.der, digests, extra_certificates=checks.certificates,
        more_certificates=functools.partial(stored_signer_certificates, checks=checks),
    )
    return signed_result(info, checks=checks, outer_headers=probe.outer_headers,
                         entity_head=shown.head, detached=True, notes=notes)


class _Digests:
    """Running digests of content as it streams by."""

    def __init__(self, names: list[str]) -> None:
        self._hashes = {n: hashes.Hash(DIGESTS[n].hash()) for n in dict.fromkeys(names)}

    def update(self, data: bytes) -> None:
        for h in self._hashes.values():
            h.update(data)

    def finish(self) -> dict[str, bytes]:
        return {n: h.finalize() for n, h in self._hashes.items()}


def _signed_part(blocks: Iterator[bytes], delimiter: bytes,
                 take: Callable[[bytes], object]) -> bytes:
    """Hand the first part of a multipart body to ``take`` in blocks, line ends made
    CRLF as :func:`smime.mime.find_smime_part` reads it; returns what follows it (from
    its closing delimiter on)."""
    buf = b""
    # The preamble, up to the first delimiter line.
    while True:
        at = buf.find(delimiter)
        while at > 0 and buf[at - 1] != 0x0A:
            at = buf.find(delimiter, at + 1)
        if at >= 0:
            eol = buf.find(b"\n", at)
            if eol >= 0:
                buf = buf[eol + 1 :]
                break
        if len(buf) > _MAX_TAIL:
            raise ParseError("malformed multipart/signed: no first part")
        more = next(blocks, b"")
        if not more:
            raise ParseError("malformed multipart/signed: no first part")
        buf += more
    marker = b"\n" + delimiter
    keep = len(marker) + 1
    carry = b""
    while True:
        at = buf.find(marker)
        if at >= 0:
            end = at - 1 if at > 0 and buf[at - 1] == 0x0D else at
            part = carry + buf[:end]
            for out in crlf_blocks([part], lone_cr=False):
                take(out)
            return buf[at + 1 :]
        if len(buf) > keep:
            part = carry + buf[:-keep]
            carry = b""
            if part.endswith(b"\r"):
                part, carry = part[:-1], b"\r"
            if part:
                take(to_crlf(part, lone_cr=False))
            buf = buf[-keep:]
        more = next(blocks, b"")
        if not more:
            raise ParseError("malformed multipart/signed: the first part has no end")
        buf += more

