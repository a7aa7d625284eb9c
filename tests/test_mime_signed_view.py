"""mime.signed_view (which headers a signature covers) and find_smime_part's other_parts."""

from __future__ import annotations

import base64

from smime import mime

INNER = b"From: alice@example.com\r\nSubject: Hi\r\nContent-Type: text/plain\r\n\r\nHello\r\n"


def test_plain_entity_carries_no_message_headers():
    view = mime.signed_view(b"Content-Type: text/plain\r\nContent-Language: en\r\n\r\nHello\r\n")
    assert view.headers == () and not view.wrapped


def test_protected_headers_are_read_from_the_entity():
    view = mime.signed_view(INNER)
    assert view.headers == (("From", "alice@example.com"), ("Subject", "Hi"))
    assert view.entity == INNER and not view.wrapped


def test_wrapped_message_is_presented_as_the_message():
    view = mime.signed_view(b"Content-Type: message/rfc822\r\n\r\n" + INNER)
    assert view.wrapped and view.entity == INNER
    assert dict(view.headers)["From"] == "alice@example.com"


def test_base64_wrapped_message_is_decoded():
    entity = (b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
              + base64.encodebytes(INNER).replace(b"\n", b"\r\n"))
    view = mime.signed_view(entity)
    assert view.wrapped and view.entity == INNER


def test_forwarded_message_is_not_a_wrapper():
    entity = b"Content-Type: message/rfc822; forwarded=yes\r\n\r\n" + INNER
    view = mime.signed_view(entity)
    assert not view.wrapped and view.headers == () and view.entity == entity


def test_content_that_is_not_mime_has_no_headers():
    view = mime.signed_view(b"This is some sample content.")
    assert view == mime.SignedView(b"This is some sample content.", (), False)


def _multipart(boundary: bytes, *parts: bytes) -> bytes:
    head = b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n"
    body = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts)
    return head + body + b"--" + boundary + b"--\r\n"


SIG = (b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n"
       b"Content-Transfer-Encoding: base64\r\n\r\nMAA=\r\n")
TEXT = b"Content-Type: text/plain\r\n\r\nunsigned\r\n"


def test_other_parts_name_every_part_outside():
    inner = _multipart(b"IN", TEXT, SIG, TEXT)
    message = b"From: a@example.com\r\n" + _multipart(b"OUT", TEXT, inner, TEXT, TEXT)
    part = mime.find_smime_part(message)
    assert part is not None and part.path == "2.2"
    assert part.other_parts == ("1", "3", "4", "2.1", "2.3")


def test_whole_message_has_no_other_parts():
    part = mime.find_smime_part(b"From: a@example.com\r\n" + SIG)
    assert part is not None and part.path == "" and part.other_parts == ()
