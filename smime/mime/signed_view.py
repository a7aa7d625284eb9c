"""What a mail client shows of signed content, and which message headers the signature covers.

A signature covers a MIME entity. Usually that entity holds only ``Content-*`` headers and
the From, To, Subject and Date a reader sees come from outside, unsigned. Two forms put
them inside: the entity may carry them itself (protected headers, RFC 9788), or be a
``message/rfc822`` wrapping a whole message (RFC 8551 §3.1), which a client then presents
as the message. Either way those signed headers are what the reader is shown, so they are
what a verifier must check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ParseError
from ._encode import qp_decode
from ._headers import header_text
from ._raw import RawEntity, read_entity
from .message import check_is_message, reading
from .parse import _decode_base64, _outer_headers, _param

__all__ = ["SignedView", "signed_view"]


@dataclass(frozen=True)
class SignedView:
    """``entity``: the bytes to present (the wrapped message for message/rfc822, else the
    signed entity); ``headers``: the message header fields (not ``Content-*``) inside the
    signature, as ``(name, value)``; ``wrapped``: the content was a message/rfc822 wrapper.
    ``top``: ``entity`` as read here (when it is the signed entity), so that what shows it
    next need not read its headers again."""

    entity: bytes
    headers: tuple[tuple[str, str], ...]
    wrapped: bool
    top: RawEntity | None = field(default=None, repr=False, compare=False)


def signed_view(entity: bytes) -> SignedView:
    """How signed ``entity`` is shown: a top-level message/rfc822 is presented as the
    message it wraps (RFC 8551 §3.1) unless it says ``forwarded=yes`` (RFC 9788: an
    attached forward, not a wrapper). Content that is not a MIME entity carries no headers."""
    try:
        check_is_message(entity)
    except ParseError:
        return SignedView(entity, (), False)
    with reading("signed content"):
        top = read_entity(entity, 0, len(entity))
        forwarded = (_param(top.headers, "forwarded") or "").strip().lower()
        if top.content_type != "message/rfc822" or forwarded == "yes":
            return SignedView(entity, _outer_headers(top), False, top)
        body = _wrapped_body(top.body_bytes, top.headers.get("content-transfer-encoding"))
        try:
            check_is_message(body)
        except ParseError:
            return SignedView(entity, _outer_headers(top), False)
        return SignedView(body, _outer_headers(read_entity(body, 0, len(body))), True)


def _wrapped_body(body: bytes, encoding: object) -> bytes:
    """message/rfc822 must be 7bit/8bit/binary (RFC 2046 §5.2.1); decode what clients would."""
    cte = "" if encoding is None else header_text(encoding).lower()
    if cte == "base64":
        return _decode_base64(body, "wrapped message")
    if cte == "quoted-printable":
        return qp_decode(body)
    return body
