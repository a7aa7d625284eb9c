"""The fast path: cryptography's Rust verifier builds and checks the chain in ~0.2 ms.

It answers only where its answer is pyhanko-certvalidator's: it accepts a subset of what
pyhanko accepts (strong algorithms, keys of 2048 bits or more, strict CA extensions), and
its answer is taken only when the chain uses nothing it does not model (certificate
policy constraints and mappings, name constraints), the path is the only one the
certificates allow, and no revocation data is to be weighed inside path validation.
Everything else (a refusal, DSA, SHA-1, PKITS's policy cases, CRLs and OCSP) goes to
pyhanko, so a verdict never depends on which path answered.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, SignatureAlgorithmOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from .._cache import LRUCache
from .trust import TrustStore

__all__ = ["rust_path"]

#: Extensions whose processing pyhanko does and the Rust verifier does not (RFC 5280
#: §6.1 policy tree, name constraints on directory names and email addresses).
_UNMODELLED = frozenset({
    ExtensionOID.NAME_CONSTRAINTS, ExtensionOID.POLICY_CONSTRAINTS,
    ExtensionOID.POLICY_MAPPINGS, ExtensionOID.INHIBIT_ANY_POLICY,
})
#: Signatures both verifiers judge alike (anything else: pyhanko decides).
_ALGORITHMS = frozenset({
    SignatureAlgorithmOID.RSA_WITH_SHA256, SignatureAlgorithmOID.RSA_WITH_SHA384,
    SignatureAlgorithmOID.RSA_WITH_SHA512, SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA384, SignatureAlgorithmOID.ECDSA_WITH_SHA512,
})
_MAIL_EKUS = (ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)
_STORES: LRUCache[_Anchors] = LRUCache("validation.rust_stores", 16)


def _mail_eku(_policy: Policy, _cert: x509.Certificate,
              eku: x509.ExtendedKeyUsage | None) -> None:
    """S/MIME signers: emailProtection, anyExtendedKeyUsage or no EKU at all."""
    if eku is not None and not any(oid in eku for oid in _MAIL_EKUS):
        raise ValueError("the extended key usage does not allow email protection")


def _signer_key_usage(_policy: Policy, _cert: x509.Certificate,
                      usage: x509.KeyUsage | None) -> None:
    if usage is not None and not (usage.digital_signature or usage.content_commitment):
        raise ValueError("the key usage allows neither digitalSignature nor nonRepudiation")


#: The Web PKI's rules for the signer, but S/MIME's key usages, and no subjectAltName
#: required (older mail certificates name the address in the subject only).
_EE_POLICY = (
    ExtensionPolicy.webpki_defaults_ee()
    .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _mail_eku)
    .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _signer_key_usage)
)
_CA_POLICY = ExtensionPolicy.webpki_defaults_ca()


@dataclass(frozen=True)
class _Anchors:
    """A trust store as the Rust verifier takes it, with how many anchors hold each key."""

    store: Store
    keys: Counter[bytes]
    unreadable: int  # anchors whose key cryptography cannot load: they could be anyone's


def _key(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def _make_anchors(trust: TrustStore) -> _Anchors:
    keys = [_key(c) for c in trust.certificates]
    return _Anchors(Store(list(trust.certificates)), Counter(k for k in keys if k is not None),
                    sum(k is None for k in keys))


def _anchors(trust: TrustStore) -> _Anchors:
    return _STORES.get_or_make(trust.identity, lambda: _make_anchors(trust))


def rust_path(
    signer: x509.Certificate, intermediates: Sequence[x509.Certificate], trust: TrustStore,
    at: dt.datetime,
) -> tuple[bytes, ...] | None:
    """The validated path as DER, signer first and anchor last; None: ask pyhanko."""
    if not len(trust) or signer in trust.certificates:
        return None
    try:
        verifier = (
            PolicyBuilder().store(_anchors(trust).store).time(at)
            .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
            .build_client_verifier()
        )
        chain = verifier.verify(signer, list(intermediates)).chain
        if not _judged_alike(chain, intermediates, trust):
            return None
        return tuple(c.public_bytes(serialization.Encoding.DER) for c in chain)
    except (VerificationError, ValueError, TypeError, x509.DuplicateExtension,
            x509.UnsupportedGeneralNameType):
        return None


def _judged_alike(
    chain: Sequence[x509.Certificate], intermediates: Sequence[x509.Certificate],
    trust: TrustStore,
) -> bool:
    """Whether pyhanko would find this same path and judge it the same way.

    The path is the only one when no other certificate at hand holds an issuer's key (only
    such a certificate could verify the signature below it: a cross-signed or renewed CA).
    """
    for cert in chain:
        if any(ext.oid in _UNMODELLED for ext in cert.extensions):
            return False
        # pyhanko refuses a name cryptography cannot decode (a Latin-1 name in a
        # UTF8String): reading both raises ValueError here, and pyhanko judges instead.
        cert.subject, cert.issuer  # noqa: B018
    if any(cert.signature_algorithm_oid not in _ALGORITHMS for cert in chain[:-1]):
        return False
    anchors = _anchors(trust)
    if anchors.unreadable:
        return False
    holders = Counter(anchors.keys)
    for cert in intermediates:
        if trust.get(cert.fingerprint(hashes.SHA256())) is None:  # each certificate once
            key = _key(cert)
            if key is None:
                return False
            holders[key] += 1
    return all(holders[_key(issuer) or b""] == 1 for issuer in chain[1:])
