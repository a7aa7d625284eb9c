"""One rule for "can this certificate receive encrypted mail": what the store offers,
``encrypt`` accepts, for every key type and every usage variant.

The agreement tests use only the public API (``smime.CertificateStore``, ``smime.encrypt``),
so they also run against an older tree, where the store offered X448 and secp256k1
certificates that ``encrypt`` refused and ``encrypt`` took TLS-only certificates the store
would not offer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, x448
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from helpers import PLAIN

import smime
from smime.core.certs import MALFORMED, extension, subject_key_identifier
from smime.errors import CertificateError
from smime.testing import KEY_TYPES, issue_certificate
from smime.testing import TestPKI as PKI

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
DAY = dt.timedelta(days=1)

#: Key types smime.testing does not make, built with cryptography directly.
EXTRA_KEY_TYPES = ("x448", "ed448", "dsa-2048", "ec-secp256k1")

#: Which key types can receive encrypted mail from this library.
RECEIVES = {
    "rsa-2048": True, "rsa-3072": True, "ec-p256": True, "ec-p384": True, "ec-p521": True,
    "x25519": True, "ed25519": False, "x448": False, "ed448": False, "dsa-2048": False,
    "ec-secp256k1": False, "ml-kem-768": True, "ml-kem-1024": True, "ml-dsa-44": False,
    "ml-dsa-65": False, "ml-dsa-87": False,
}

_FLAGS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
          "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")


def _extra_certificate(
    pki: PKI, key_type: str, email: str, key_usage: Sequence[str]
) -> x509.Certificate:
    """An S/MIME end-entity certificate for a key type smime.testing does not generate."""
    public: x448.X448PublicKey | ed448.Ed448PublicKey | dsa.DSAPublicKey | ec.EllipticCurvePublicKey
    if key_type == "x448":
        public = x448.X448PrivateKey.generate().public_key()
    elif key_type == "ed448":
        public = ed448.Ed448PrivateKey.generate().public_key()
    elif key_type == "dsa-2048":
        public = dsa.generate_private_key(2048).public_key()
    else:
        public = ec.generate_private_key(ec.SECP256K1()).public_key()
    flags = {name: name in key_usage for name in _FLAGS}
    issuer = pki.intermediate
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, email)]))
        .issuer_name(issuer.certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 300 * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**flags), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                       critical=False)
    )
    return builder.sign(issuer.key, hashes.SHA256())  # type: ignore[arg-type]


def _certificate(pki: PKI, key_type: str, email: str) -> x509.Certificate:
    """A certificate of ``key_type`` with the key usage its owner would be given."""
    if key_type in KEY_TYPES:
        return issue_certificate(pki.intermediate, email, key_type=key_type).certificate
    usage = {"x448": ("key_agreement",), "ec-secp256k1": ("digital_signature", "key_agreement")}
    return _extra_certificate(pki, key_type, email, usage.get(key_type, ("digital_signature",)))


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[smime.CertificateStore]:
    with smime.CertificateStore(tmp_path / "contacts.sqlite") as s:
        yield s


def _encrypt_accepts(cert: x509.Certificate) -> bool:
    try:
        smime.encrypt(PLAIN, cert)
    except CertificateError:
        return False
    return True


def _offered_and_accepted(
    store: smime.CertificateStore, cert: x509.Certificate, email: str
) -> tuple[bool, bool]:
    """(the store offers ``cert`` for ``email``, ``encrypt`` accepts ``cert``)."""
    store.add(cert, emails=[email])
    found = store.find(email)
    assert found in (None, cert)
    return found is not None, _encrypt_accepts(cert)


# ----------------------------------------------------------------------------- agreement


def test_every_key_type_is_covered() -> None:
    assert set(RECEIVES) == {*KEY_TYPES, *EXTRA_KEY_TYPES}


@pytest.mark.parametrize("key_type", [*KEY_TYPES, *EXTRA_KEY_TYPES])
def test_what_the_store_offers_encrypt_accepts(
    pki: PKI, store: smime.CertificateStore, key_type: str
) -> None:
    email = f"{key_type}@example.com"
    cert = _certificate(pki, key_type, email)
    offered, accepted = _offered_and_accepted(store, cert, email)
    assert (offered, accepted) == (RECEIVES[key_type], RECEIVES[key_type])
    if accepted:  # and by address, through the store, as users do
        assert smime.encrypt(PLAIN, email, store=store)["Content-Type"].startswith(
            "application/pkcs7-mime")
    else:
        with pytest.raises(CertificateError, match="no usable certificate"):
            smime.encrypt(PLAIN, email, store=store)


_USAGE_VARIANTS = {
    # name: (key_usage, extended_key_usage, validity offset in days, receives)
    "default": (None, [ExtendedKeyUsageOID.EMAIL_PROTECTION], 0, True),
    "no eku": (None, None, 0, True),
    "any eku": (None, [x509.ObjectIdentifier("2.5.29.37.0")], 0, True),
    "tls only": (None, [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], 0,
                 False),
    "sign only": (["digital_signature"], [ExtendedKeyUsageOID.EMAIL_PROTECTION], 0, False),
    "expired": (None, [ExtendedKeyUsageOID.EMAIL_PROTECTION], -400, False),
    "not yet valid": (None, [ExtendedKeyUsageOID.EMAIL_PROTECTION], 3, False),
}


@pytest.mark.parametrize("variant", list(_USAGE_VARIANTS))
@pytest.mark.parametrize("key_type", ["rsa-2048", "ec-p384", "x25519"])
def test_usage_and_validity_are_judged_alike(
    pki: PKI, store: smime.CertificateStore, key_type: str, variant: str
) -> None:
    key_usage, eku, offset, receives = _USAGE_VARIANTS[variant]
    email = f"{key_type}.{variant.replace(' ', '-')}@example.com"
    start = NOW - DAY + offset * DAY
    cert = issue_certificate(pki.intermediate, email, key_type=key_type, key_usage=key_usage,
                             extended_key_usage=eku, not_before=start,
                             not_after=start + 200 * DAY).certificate
    assert _offered_and_accepted(store, cert, email) == (receives, receives)


def _duplicate_extension(cert: x509.Certificate) -> x509.Certificate:
    """``cert`` with its first extension twice, which cryptography cannot read."""
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    tbs["extensions"] = asn1_x509.Extensions([*tbs["extensions"], tbs["extensions"][0]])
    return x509.load_der_x509_certificate(parsed.dump(force=True))


def test_unreadable_extensions_are_refused_by_both(
    pki: PKI, store: smime.CertificateStore
) -> None:
    broken = _duplicate_extension(pki["alice"].certificate)
    offered, accepted = _offered_and_accepted(store, broken, "broken@example.com")
    assert (offered, accepted) == (False, False)
    with pytest.raises(CertificateError, match="malformed extensions"):
        smime.encrypt(PLAIN, broken)


# ----------------------------------------------------------------------------- the rule


def test_the_sentence_is_the_one_encrypt_raises(pki: PKI) -> None:
    from smime.core.certs import can_receive, check_can_receive, receive_problem

    x448_cert = _certificate(pki, "x448", "x448@example.com")
    ed448_cert = _certificate(pki, "ed448", "ed448@example.com")
    for cert, words in [(x448_cert, "X448 key: this library does not implement"),
                        (ed448_cert, "Ed448 key, which can only sign")]:
        problem = receive_problem(cert, NOW)
        assert problem is not None and words in problem
        assert not can_receive(cert, NOW)
        with pytest.raises(CertificateError) as raised:
            smime.encrypt(PLAIN, cert)
        assert str(raised.value) == problem
        with pytest.raises(CertificateError, match=words):
            check_can_receive(cert, NOW, check_usage=False)  # never skips the key type
    assert check_can_receive(pki["grace"].certificate, NOW) == "x25519"
    assert check_can_receive(pki["dave"].certificate, NOW) == "ecdh"
    assert check_can_receive(pki["bob"].certificate, NOW) == "rsa"


def test_the_moment_is_the_one_asked_about(pki: PKI) -> None:
    from smime.core.certs import can_receive, receive_problem

    cert = pki["alice"].certificate
    before = cert.not_valid_before_utc - DAY
    assert can_receive(cert, NOW)
    assert can_receive(cert, NOW.replace(tzinfo=None))  # naive times are UTC
    assert not can_receive(cert, before)
    assert "is not valid before" in (receive_problem(cert, before) or "")
    assert "expired on" in (receive_problem(cert, cert.not_valid_after_utc + DAY) or "")
    assert receive_problem(cert, before, check_usage=False) is None


def test_unknown_key_algorithm_is_a_sentence_not_a_crash(pki: PKI) -> None:
    """A public key cryptography cannot load (here: an unknown algorithm OID)."""
    from smime.core.certs import can_receive, receive_problem

    parsed = asn1_x509.Certificate.load(
        pki["alice"].certificate.public_bytes(serialization.Encoding.DER))
    spki = parsed["tbs_certificate"]["subject_public_key_info"]
    spki["algorithm"] = {"algorithm": "1.3.6.1.4.1.99999.1"}
    cert = x509.load_der_x509_certificate(parsed.dump(force=True))
    assert not can_receive(cert, NOW)
    assert "has a key we cannot use" in (receive_problem(cert, NOW) or "")
    with pytest.raises(CertificateError, match="has a key we cannot use"):
        smime.encrypt(PLAIN, cert)


def test_signer_eku_check_shares_the_email_purpose_rule() -> None:
    from smime.core.certs import ANY_EXTENDED_KEY_USAGE, email_usage_allowed

    assert email_usage_allowed([ExtendedKeyUsageOID.EMAIL_PROTECTION])
    assert email_usage_allowed([ExtendedKeyUsageOID.SERVER_AUTH, ANY_EXTENDED_KEY_USAGE])
    assert not email_usage_allowed([ExtendedKeyUsageOID.SERVER_AUTH])
    assert not email_usage_allowed([])



def test_one_reader_of_an_extension(pki: PKI) -> None:
    cert = pki["alice"].certificate
    assert extension(cert, x509.KeyUsage) is not None
    assert extension(cert, x509.PolicyConstraints) is None
    assert subject_key_identifier(cert) == cert.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value.digest
    broken = _duplicate_extension(cert)
    assert extension(broken, x509.KeyUsage) is None  # unreadable counts as absent...
    with pytest.raises(MALFORMED):  # ...unless the caller must refuse it
        extension(broken, x509.KeyUsage, strict=True)
