"""The one signature verifier: every scheme it reads, the spellings it tolerates, and the
refusals that must be a False (or an UnsupportedError from ``signature_scheme``), never an
exception from a dependency."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from asn1crypto import algos, core
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, x25519

from smime.core.signatures import (
    SignatureScheme,
    digest_name,
    key_mismatch,
    signature_scheme,
    verify_signature,
)
from smime.errors import UnsupportedError

DATA = b"the signed bytes"


@cache
def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


@cache
def _ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@cache
def _dsa() -> dsa.DSAPrivateKey:
    return dsa.generate_private_key(2048)


def _identifier(algorithm: str, parameters: Any = None) -> algos.SignedDigestAlgorithm:
    value: dict[str, Any] = {"algorithm": algorithm}
    if parameters is not None:
        value["parameters"] = parameters
    return algos.SignedDigestAlgorithm(value)


def _pss_params(hash_name: str = "sha256", mgf_hash: str = "sha256", salt: int = 32,
                **extra: Any) -> algos.RSASSAPSSParams:
    return algos.RSASSAPSSParams({
        "hash_algorithm": {"algorithm": hash_name},
        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": mgf_hash}},
        "salt_length": salt,
        **extra,
    })


Signer = Callable[[bytes], bytes]

#: (AlgorithmIdentifier, the public key, a function signing with the matching private key)
CASES: dict[str, tuple[Callable[[], algos.SignedDigestAlgorithm], Callable[[], Any], Signer]] = {
    "sha256-rsa": (lambda: _identifier("sha256_rsa"), lambda: _rsa().public_key(),
                   lambda d: _rsa().sign(d, padding.PKCS1v15(), hashes.SHA256())),
    "sha1-rsa-oiw": (lambda: _identifier("1.3.14.3.2.29"), lambda: _rsa().public_key(),
                     lambda d: _rsa().sign(d, padding.PKCS1v15(), hashes.SHA1())),
    "sha512-rsa": (lambda: _identifier("sha512_rsa"), lambda: _rsa().public_key(),
                   lambda d: _rsa().sign(d, padding.PKCS1v15(), hashes.SHA512())),
    "pss-sha256": (lambda: _identifier("rsassa_pss", _pss_params()), lambda: _rsa().public_key(),
                   lambda d: _rsa().sign(d, padding.PSS(padding.MGF1(hashes.SHA256()), 32),
                                         hashes.SHA256())),
    "pss-sha384-mgf-sha1-salt-0": (
        lambda: _identifier("rsassa_pss", _pss_params("sha384", "sha1", 0)),
        lambda: _rsa().public_key(),
        lambda d: _rsa().sign(d, padding.PSS(padding.MGF1(hashes.SHA1()), 0), hashes.SHA384()),
    ),
    "pss-defaults": (  # RFC 4055 defaults: SHA-1, MGF1-SHA-1, salt 20
        lambda: _identifier("rsassa_pss", algos.RSASSAPSSParams.load(b"\x30\x00")),
        lambda: _rsa().public_key(),
        lambda d: _rsa().sign(d, padding.PSS(padding.MGF1(hashes.SHA1()), 20), hashes.SHA1()),
    ),
    "ecdsa-sha256": (lambda: _identifier("sha256_ecdsa"), lambda: _ec().public_key(),
                     lambda d: _ec().sign(d, ec.ECDSA(hashes.SHA256()))),
    "ecdsa-sha1": (lambda: _identifier("sha1_ecdsa"), lambda: _ec().public_key(),
                   lambda d: _ec().sign(d, ec.ECDSA(hashes.SHA1()))),
    "dsa-sha256": (lambda: _identifier("sha256_dsa"), lambda: _dsa().public_key(),
                   lambda d: _dsa().sign(d, hashes.SHA256())),
    "dsa-sha1": (lambda: _identifier("sha1_dsa"), lambda: _dsa().public_key(),
                 lambda d: _dsa().sign(d, hashes.SHA1())),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_scheme_verifies_from_its_identifier(name: str) -> None:
    identifier, public, sign = (f() if i < 2 else f for i, f in enumerate(CASES[name]))
    assert callable(sign)
    signature = sign(DATA)
    assert verify_signature(public, identifier, signature, DATA)
    assert verify_signature(public, identifier.dump(), signature, DATA)  # DER in, same answer
    assert not verify_signature(public, identifier, signature, DATA + b"!")
    broken = bytes([signature[0] ^ 1]) + signature[1:]
    assert not verify_signature(public, identifier, broken, DATA)


@pytest.mark.parametrize("make", [ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey])
def test_eddsa(make: Any) -> None:
    key = make.generate()
    algorithm = "ed25519" if make is ed25519.Ed25519PrivateKey else "ed448"
    identifier = _identifier(algorithm)
    signature = key.sign(DATA)
    assert signature_scheme(identifier) == SignatureScheme(algorithm, None)
    assert verify_signature(key.public_key(), identifier, signature, DATA)
    assert not verify_signature(key.public_key(), identifier, signature, DATA + b"!")


def test_hash_from_the_caller_when_the_oid_names_none() -> None:
    """Plain rsaEncryption / ecPublicKey / id-dsa in a SignerInfo: the digestAlgorithm says."""
    for oid, scheme in (("1.2.840.113549.1.1.1", "rsa-pkcs1v15"),
                        ("1.2.840.10045.2.1", "ecdsa"), ("1.2.840.10040.4.1", "dsa")):
        assert signature_scheme(_identifier(oid), "sha384") == SignatureScheme(scheme, "sha384")
        assert signature_scheme(_identifier(oid)).hash == ""
    signature = _rsa().sign(DATA, padding.PKCS1v15(), hashes.SHA256())
    scheme = signature_scheme(_identifier("rsassa_pkcs1v15"), "sha256")
    assert verify_signature(_rsa().public_key(), scheme, signature, DATA)
    # Without a digest (a certificate, a CRL) there is nothing to check with: not valid.
    assert not verify_signature(_rsa().public_key(), _identifier("rsassa_pkcs1v15"),
                                signature, DATA)


def test_pkcs1v15_digest_info_without_null_parameters() -> None:
    """Bouncy Castle's rawsha256nonull: the DigestInfo omits NULL (RFC 4055 allows it)."""
    key = _rsa()
    digest_info = (b"\x30\x2f\x30\x0b\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x04\x20"
                   + hashlib.sha256(DATA).digest())
    numbers = key.private_numbers()
    size = (key.key_size + 7) // 8
    block = b"\x00\x01" + b"\xff" * (size - 3 - len(digest_info)) + b"\x00" + digest_info
    signature = pow(int.from_bytes(block, "big"), numbers.d, numbers.public_numbers.n)
    raw = signature.to_bytes(size, "big")
    with pytest.raises(InvalidSignature):  # what cryptography alone says
        key.public_key().verify(raw, DATA, padding.PKCS1v15(), hashes.SHA256())
    assert verify_signature(key.public_key(), _identifier("sha256_rsa"), raw, DATA)
    assert not verify_signature(key.public_key(), _identifier("sha256_rsa"), raw, DATA + b"!")
    assert not verify_signature(key.public_key(), _identifier("sha384_rsa"), raw, DATA)


@pytest.mark.parametrize(("identifier", "message"), [
    (lambda: _identifier("md2_rsa"), "1.2.840.113549.1.1.2 is not supported"),
    (lambda: _identifier("sha3_256_ecdsa"), "2.16.840.1.101.3.4.3.10 is not supported"),
    (lambda: _identifier("rsassa_pss"), "RSASSA-PSS without parameters"),
    (lambda: _identifier("rsassa_pss", _pss_params(
        mask_gen_algorithm={"algorithm": "1.2.3.4"})), "mask generation function 1.2.3.4"),
    (lambda: _identifier("rsassa_pss", _pss_params(trailer_field=2)), "trailer field"),
    (lambda: _identifier("rsassa_pss", _pss_params(salt=5000)), "salt length 5000"),
    (lambda: _identifier("rsassa_pss", _pss_params("sha3_256")), "2.16.840.1.101.3.4.2.8"),
])
def test_unsupported_is_an_unsupported_error_and_a_failed_signature(
    identifier: Callable[[], algos.SignedDigestAlgorithm], message: str
) -> None:
    with pytest.raises(UnsupportedError, match=message):
        signature_scheme(identifier())
    assert not verify_signature(_rsa().public_key(), identifier(), b"\x00" * 256, DATA)


def test_wrong_key_type_is_a_failed_signature() -> None:
    signature = _ec().sign(DATA, ec.ECDSA(hashes.SHA256()))
    scheme = signature_scheme(_identifier("sha256_ecdsa"))
    assert key_mismatch(scheme, _rsa().public_key()) == (
        "the signature algorithm ecdsa does not fit the signer's RSA key")
    assert key_mismatch(scheme, _ec().public_key()) is None
    for key in (_rsa().public_key(), _dsa().public_key(), x25519.X25519PrivateKey.generate()
                .public_key(), ed25519.Ed25519PrivateKey.generate().public_key()):
        assert not verify_signature(key, scheme, signature, DATA)
    assert "X25519PublicKey key" in str(key_mismatch(
        scheme, x25519.X25519PrivateKey.generate().public_key()))


@pytest.mark.parametrize("identifier", [
    b"", b"\x30\x03\x06\x01", b"garbage", core.Null().dump(),
    algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss"}).dump()[:-1],
])
def test_unreadable_identifier_is_a_failed_signature(identifier: bytes) -> None:
    assert not verify_signature(_rsa().public_key(), identifier, b"x" * 256, DATA)


def test_malformed_ecdsa_signature_is_a_failed_signature() -> None:
    assert not verify_signature(_ec().public_key(), _identifier("sha256_ecdsa"), b"\x30\x01",
                                DATA)


def test_pss_mgf1_without_parameters_is_not_an_exception() -> None:
    params = _pss_params()
    params["mask_gen_algorithm"] = {"algorithm": "mgf1"}
    identifier = _identifier("rsassa_pss", params)
    assert not verify_signature(_rsa().public_key(), identifier, b"x" * 256, DATA)


def test_digest_name() -> None:
    assert digest_name("2.16.840.1.101.3.4.2.1") == "sha256"
    assert digest_name("1.2.840.113549.1.1.11") == "sha256"  # a signature OID, meaning SHA-256
    with pytest.raises(UnsupportedError, match=r"algorithm 1\.2\.840\.113549\.1\.1\.1 is not"):
        digest_name("1.2.840.113549.1.1.1")


def test_a_scheme_missing_what_it_needs_is_a_failed_signature() -> None:
    signature = _rsa().sign(DATA, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    good = SignatureScheme("rsassa-pss", "sha256", 32, "sha256")
    assert verify_signature(_rsa().public_key(), good, signature, DATA)
    assert not verify_signature(_rsa().public_key(), SignatureScheme("rsassa-pss", "sha256", 32),
                                signature, DATA)
    assert not verify_signature(_rsa().public_key(), SignatureScheme("rsassa-pss", ""),
                                signature, DATA)
