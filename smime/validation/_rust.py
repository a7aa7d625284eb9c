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
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
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
from ._common import name_key
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
_STORES: LRUCache[Store] = LRUCache("validation.rust_stores", 16)


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


def _store(trust: TrustStore) -> Store:
    return _STORES.get_or_make(trust.identity, lambda: Store(list(trust.certificates)))


def rust_path(
    signer: x509.Certificate, intermediates: Sequence[x509.Certificate], trust: TrustStore,
    at: dt.datetime,
) -> tuple[bytes, ...] | None:
    """The validated path as DER, signer first and anchor last; None: ask pyhanko."""
    if not len(trust) or signer in trust.certificates:
        return None
    try:
        verifier = (
            PolicyBuilder().store(_store(trust)).time(at)
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
    """Whether pyhanko would find this same path and judge it the same way."""
    for cert in chain:
        if any(ext.oid in _UNMODELLED for ext in cert.extensions):
            return False
    if any(cert.signature_algorithm_oid not in _ALGORITHMS for cert in chain[:-1]):
        return False
    pool = {*intermediates, *trust.certificates}  # certificates compare by their DER
    for cert in chain[:-1]:
        wanted = name_key(cert.issuer)
        issuers = {c for c in pool if name_key(c.subject) == wanted}
        if len(issuers) != 1:
            return False  # more than one way up: pyhanko's choice might differ
    return True
