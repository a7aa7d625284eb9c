"""One dispatch from MIME to CMS: ``smime.inspect`` and the API decide layers the same way.

``mime.classify_part`` says which MIME part is S/MIME; ``cms.content_kind`` says which
layer a CMS structure makes. ``unwrap`` peels by them and ``inspect`` describes by them,
so a message cannot look like one thing to one and another thing to the other.
"""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest
from helpers import PLAIN

import smime
from smime import cms, mime
from smime.errors import ParseError

if TYPE_CHECKING:
    from smime.testing import TestPKI

#: What inspect calls each layer that unwrap peels.
INSPECTED = {
    "signed": {"signed-data"},
    "certs-only": {"certs-only"},
    "encrypted": {"enveloped-data", "authenticated-enveloped-data"},
    "compressed": {"compressed-data"},
}


def _messages(pki: TestPKI) -> dict[str, EmailMessage]:
    alice, bob = pki["alice"], pki["bob"]
    return {
        "opaque signed": smime.sign(PLAIN, alice.identity, detached=False),
        "cbc": smime.encrypt(PLAIN, bob.certificate, cipher="aes-128-cbc"),
        "gcm": smime.encrypt(PLAIN, bob.certificate, cipher="aes-256-gcm"),
        "compressed": smime.compress(PLAIN),
        "certs-only": smime.export_certificates([alice.certificate]),
    }


def test_content_kind_names_each_layer(pki: TestPKI) -> None:
    kinds = {
        name: cms.content_kind(mime.find_smime_part(message).der)  # type: ignore[union-attr]
        for name, message in _messages(pki).items()
    }
    assert {name: (k.name, k.layer, k.authenticated) for name, k in kinds.items()} == {
        "opaque signed": ("signed_data", "signed", False),
        "cbc": ("enveloped_data", "encrypted", False),
        "gcm": ("authenticated_enveloped_data", "encrypted", True),
        "compressed": ("compressed_data", "compressed", False),
        "certs-only": ("signed_data", "signed", False),
    }
    assert kinds["gcm"].label == "authenticated-enveloped-data"
    data = cms.content_kind(bytes.fromhex("300d06092a864886f70d010701a000"))
    assert (data.name, data.layer) == ("data", None)  # a ContentInfo, but no S/MIME layer
    with pytest.raises(ParseError):
        cms.content_kind(b"not DER")


def test_inspect_shows_the_layers_unwrap_peels(pki: TestPKI) -> None:
    bob = pki["bob"]
    trust = smime.TrustStore.from_certificates([pki.root.certificate])
    for name, message in _messages(pki).items():
        peeled = [layer.kind for layer in smime.unwrap(message, bob.identity, trust).layers]
        tree = smime.inspect(message, identity=bob.identity)
        shown = [n.kind for n in tree.walk() if n.kind in set().union(*INSPECTED.values())]
        assert len(shown) == len(peeled), name
        assert all(kind in INSPECTED[layer] for kind, layer in zip(shown, peeled, strict=True))


@pytest.mark.parametrize(("headers", "kind"), [
    ("Content-Type: application/pkcs7-mime; smime-type=enveloped-data", "pkcs7-mime"),
    ("Content-Type: application/x-pkcs7-mime", "pkcs7-mime"),
    ("Content-Type: application/pkcs7-signature", "pkcs7-signature"),
    ("Content-Type: application/octet-stream\r\n"
     "Content-Disposition: attachment; filename=\"SMIME.P7M \"", "pkcs7-mime"),
    ("Content-Type: application/octet-stream; name=smime.p7z", "pkcs7-mime"),
    ("Content-Type: application/octet-stream; name=smime.p7s", "pkcs7-signature"),
    ("Content-Type: application/octet-stream; name=report.pdf", None),
    ("Content-Type: text/plain", None),
])
def test_classify_part_is_the_rule_for_parsed_and_raw_parts(headers: str, kind: str | None) -> None:
    raw = f"{headers}\r\n\r\n".encode()
    assert mime.classify_part(message_from_bytes(raw)) == kind
    assert mime.classify_part(message_from_bytes(raw, _class=EmailMessage)) == kind
