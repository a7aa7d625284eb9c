"""The common SignedData checked straight from its DER, without asn1crypto's tree.

Mail from a known signer is nearly always one shape: data content (detached or carried),
plain certificates, no revocation data, signers named by issuer and serial (or key
identifier) with the usual signed attributes and no unsigned ones. Parsing that through
asn1crypto's schema classes costs several times the signature check. Here it is read with
:mod:`smime.core.der`, what recurs from message to message (signer names, algorithm
identifiers, capability lists, certificates) is looked up by its DER, and the answer is
given only for a signer that checks out with no problem at all.

Anything else (another shape, an algorithm not judged here, any problem, any doubt)
returns None, and :func:`smime.cms.verify_signed_data` takes the full asn1crypto path,
which words every verdict. So this path never decides a failure: it can only confirm what
the full path would say of a clean signer, field for field (``tests/test_cms_signed_fast.py``
runs both on the same inputs and compares).
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from functools import partial

from asn1crypto import algos as asn1_algos
from asn1crypto import core as asn1_core
from cryptography.exceptions import UnsupportedAlgorithm

from .._cache import LRUCache
from ..algorithms import (
    CONTENT_TYPE_OID,
    DATA_OID,
    ENCRYPTION_KEY_PREFERENCE_OID,
    MESSAGE_DIGEST_OID,
    MS_ENCRYPTION_KEY_PREFERENCE_OID,
    SIGNING_TIME_OID,
    SMIME_CAPABILITIES_OID,
    WEAK_DIGESTS,
    oid_name,
)
from ..core.der import CONTEXT, INTEGER, OCTET_STRING, SEQUENCE, SET, UNIVERSAL, Tlv, children
from ..core.der import read as read_tlv
from ..core.signatures import SignatureScheme, digest_name, key_mismatch, verify_signature
from ..errors import ParseError, UnsupportedError
from ..problems import Problem
from ._certs import Cert, Received, SignerIdentifier, find_certificate, public_key
from ._schema import CMSAttribute
from ._sigalgs import verifying_scheme
from ._signed_attrs import EncryptionKeyPreference, read_capabilities, read_key_preference
from ._signed_der import DATA_TYPE_DER, SIGNED_DATA_TYPE_DER
from ._verify import SignerCheck, VerifyContext, capabilities, signer_name, utc_time

__all__ = ["Shape", "check_signers", "read_shape"]

_OBJECT_IDENTIFIER, _UTC_TIME = 6, 23
_WHAT = "CMS ContentInfo"


def _oid_der(dotted: str) -> bytes:
    return bytes(asn1_core.ObjectIdentifier(dotted).dump())


_SIGNED_DATA = SIGNED_DATA_TYPE_DER
_DATA = DATA_TYPE_DER
#: Attribute types the fast path reads, by their DER; any other is listed by name only.
_READ = {_oid_der(oid): oid for oid in (CONTENT_TYPE_OID, MESSAGE_DIGEST_OID,
                                         SIGNING_TIME_OID, SMIME_CAPABILITIES_OID)}
#: The encryption key preference, in RFC 8551's form and Microsoft's (Thunderbird sends
#: both): read by the full path's reader, once per signer's pair of attributes.
_PREFERENCES = frozenset((ENCRYPTION_KEY_PREFERENCE_OID, MS_ENCRYPTION_KEY_PREFERENCE_OID))


@dataclass(frozen=True)
class Shape:
    """A SignedData of the common shape, its parts located in ``der``."""

    der: bytes
    econtent: bytes | None  # None when detached
    received: Received
    signers: tuple[tuple[Tlv, ...], ...]  # each SignerInfo's six fields


def read_shape(der: bytes) -> Shape | None:
    """``der`` (framing already checked) as a ContentInfo of the common shape, or None."""
    try:
        return _read_shape(der)
    except ParseError:
        return None


def _one(buf: bytes, tlv: Tlv, tag_class: int, tag: int, *, constructed: bool,
         definite: bool = True) -> Tlv:
    """``tlv``, when it has this tag and, unless it is an enclosing element (``definite``
    False), a definite length: asn1crypto re-encodes what has an indefinite one before
    the full path reads it, so that is left to the full path."""
    if (tlv.tag_class != tag_class or tlv.tag != tag or tlv.constructed != constructed
            or (definite and tlv.end != tlv.next)):
        raise ParseError("not the common shape")
    return tlv


def _enclosing(buf: bytes, tlv: Tlv, tag_class: int, tag: int) -> list[Tlv]:
    """The children of an enclosing element (BER's indefinite length allowed: NSS, so
    Thunderbird, writes its SignedData so)."""
    return children(buf, _one(buf, tlv, tag_class, tag, constructed=True, definite=False),
                    _WHAT)


def _read_shape(der: bytes) -> Shape | None:
    top = read_tlv(der, 0, len(der), _WHAT)
    if top.next != len(der):  # trailing bytes: the full path
        return None
    info = _enclosing(der, top, UNIVERSAL, SEQUENCE)
    if len(info) != 2 or der[info[0].start : info[0].next] != _SIGNED_DATA:
        return None
    wrapper = _enclosing(der, info[1], CONTEXT, 0)
    if len(wrapper) != 1:
        return None
    fields = _enclosing(der, wrapper[0], UNIVERSAL, SEQUENCE)
    if len(fields) < 4:
        return None
    _one(der, fields[0], UNIVERSAL, INTEGER, constructed=False)
    _one(der, fields[1], UNIVERSAL, SET, constructed=True, definite=False)
    econtent = _encapsulated(der, _enclosing(der, fields[2], UNIVERSAL, SEQUENCE))
    certificates: tuple[bytes, ...] = ()
    rest = fields[3:]
    if rest[0].tag_class == CONTEXT and rest[0].tag == 0:
        choices = _enclosing(der, rest[0], CONTEXT, 0)
        certificates = tuple(
            der[_one(der, c, UNIVERSAL, SEQUENCE, constructed=True).start : c.next]
            for c in choices
        )
        rest = rest[1:]
    if len(rest) != 1:  # revocation data, or fields no SignedData has: the full path
        return None
    signer_infos = _enclosing(der, rest[0], UNIVERSAL, SET)
    attributes, signers = [], []
    for si in signer_infos:
        parts = _enclosing(der, si, UNIVERSAL, SEQUENCE)
        if len(parts) != 6:  # no signed attributes, or unsigned ones: the full path
            return None
        version, sid, digest, signed, algorithm, signature = parts
        _one(der, version, UNIVERSAL, INTEGER, constructed=False)
        _one(der, digest, UNIVERSAL, SEQUENCE, constructed=True)
        _one(der, signed, CONTEXT, 0, constructed=True)
        _one(der, algorithm, UNIVERSAL, SEQUENCE, constructed=True)
        _one(der, signature, UNIVERSAL, OCTET_STRING, constructed=False)
        if sid.end != sid.next or der[signed.start] != 0xA0:
            return None
        attributes.append(b"\x31" + der[signed.start + 1 : signed.next])
        signers.append(tuple(parts))
    received = Received(tuple(attributes), certificates, (), ())
    return Shape(der, econtent, received, tuple(signers))


def _encapsulated(der: bytes, parts: list[Tlv]) -> bytes | None:
    """The eContent of ``data``, None when detached; ParseError for any other form."""
    if not parts or der[parts[0].start : parts[0].next] != _DATA or len(parts) > 2:
        raise ParseError("not the common shape")
    if len(parts) == 1:
        return None
    inner = _enclosing(der, parts[1], CONTEXT, 0)
    if len(inner) != 1:
        raise ParseError("not the common shape")
    octets = _one(der, inner[0], UNIVERSAL, OCTET_STRING, constructed=False)
    return der[octets.body : octets.end]


# ---------------------------------------------------------------------------- signers


@dataclass(frozen=True)
class _Algorithms:
    """A signer's digest and signature algorithms, read once per pair of identifiers;
    ``scheme`` None when the pair is not one this path judges (unknown, weak...)."""

    digest: str
    scheme: SignatureScheme | None


_ALGORITHMS: LRUCache[_Algorithms] = LRUCache("cms.signer_algorithms", 64)
_KEY_PREFERENCES: LRUCache[_Preference] = LRUCache("cms.key_preferences", 256)
_OIDS: LRUCache[str] = LRUCache("cms.attribute_types", 256)


def _algorithms(digest_der: bytes, signature_der: bytes) -> _Algorithms:
    try:
        oid = asn1_algos.DigestAlgorithm.load(digest_der, strict=True)["algorithm"].dotted
        digest = digest_name(oid)
        scheme = verifying_scheme(
            asn1_algos.SignedDigestAlgorithm.load(signature_der, strict=True), digest)
    except (UnsupportedError, ValueError, TypeError, KeyError, IndexError):
        return _Algorithms("", None)
    # A weak digest is a problem, and "" is a hash the identifiers do not settle: the full
    # path says so. None (EdDSA, ML-DSA) is a scheme that names no hash of its own.
    if digest in WEAK_DIGESTS or scheme.hash == "" or scheme.hash in WEAK_DIGESTS:
        return _Algorithms(digest, None)
    return _Algorithms(digest, scheme)


@dataclass(frozen=True)
class _Preference:
    """A signer's encryption key preference (None: the attributes name none)."""

    value: EncryptionKeyPreference | None


def _key_preference(attributes: tuple[bytes, ...]) -> _Preference:
    """What :func:`read_key_preference` makes of these attributes (DER), as the full path
    hands them to it: each type's values, read through the same schema."""
    values = {}
    for der in attributes:
        attribute = CMSAttribute.load(der, strict=True)
        values[attribute["type"].dotted] = attribute["values"]
    return _Preference(read_key_preference(values))


def _dotted(der: bytes) -> str:
    known = _READ.get(der)
    if known is not None:
        return known
    return _OIDS.get_or_make(der, lambda: asn1_core.ObjectIdentifier.load(der, strict=True).dotted)


def check_signers(shape: Shape, ctx: VerifyContext) -> tuple[SignerCheck, ...] | None:
    """Every signer's check, when each is clean; None to send the whole to the full path."""
    if ctx.content is None or ctx.mismatch or ctx.econtent_type != DATA_OID:
        return None
    checks = []
    for si, attrs in zip(shape.signers, shape.received.signed_attributes, strict=True):
        try:
            check = _check(shape.der, si, attrs, ctx)
        except (ParseError, ValueError, TypeError, KeyError, IndexError, OverflowError,
                AttributeError, UnsupportedAlgorithm):
            return None
        if check is None:
            return None
        checks.append(check)
    return tuple(checks)


def _check(der: bytes, si: tuple[Tlv, ...], signed: bytes | None,
           ctx: VerifyContext) -> SignerCheck | None:
    _version, sid, digest_alg, attrs, signature_alg, signature = si
    algorithms = _ALGORITHMS.get_or_make(
        (der[digest_alg.start : digest_alg.next], der[signature_alg.start : signature_alg.next]),
        lambda: _algorithms(der[digest_alg.start : digest_alg.next],
                            der[signature_alg.start : signature_alg.next]))
    scheme = algorithms.scheme
    if scheme is None or signed is None:
        return None
    read = _attributes(der, attrs, algorithms.digest, ctx)
    if read is None:
        return None
    names, when, caps, preference = read
    name = signer_name(der[sid.start : sid.next])
    settled, found = _by_issuer_and_serial(name.signer_id, ctx.certificates)
    if not settled:
        found = find_certificate(name.sid, ctx.certificates)
    if found is None or found.crypto is None:
        return None
    key = public_key(found, ctx.certificates)
    if (isinstance(key, Problem) or key_mismatch(scheme, key) is not None
            or not verify_signature(key, scheme, der[signature.body : signature.end], signed)):
        return None
    return SignerCheck(
        certificate=found.crypto, identifier=name.text, digest_algorithm=algorithms.digest,
        signature_algorithm=scheme.name, signing_time=when, signed_attributes=names,
        capabilities=caps, encryption_key_preference=preference, intact=True,
        signature_valid=True, problems=(), signer_id=name.signer_id,
    )


def _by_issuer_and_serial(sid: SignerIdentifier, certs: list[Cert]) -> tuple[bool, Cert | None]:
    """(True, what :func:`find_certificate` finds) when the encodings settle it: the first
    certificate with this serial number has this issuer, byte for byte, or none has it.
    (False, None) when they do not (an equal name encoded otherwise, a certificate
    cryptography refused, a key identifier): :func:`find_certificate` decides."""
    if sid.issuer is None:
        return False, None
    for cert in certs:
        loaded = cert.loaded
        if loaded is None or loaded.crypto is None:
            return False, None
        if loaded.serial == sid.serial_number:
            return (True, cert) if loaded.issuer == sid.issuer else (False, None)
    return True, None


def _attributes(
    der: bytes, attrs: Tlv, digest: str, ctx: VerifyContext
) -> tuple[tuple[str, ...], dt.datetime | None, tuple[str, ...],
           EncryptionKeyPreference | None] | None:
    """(names, signing time, capabilities, key preference) of signed attributes that
    check out, else None."""
    names: list[str] = []
    preferences: list[bytes] = []
    seen: set[str] = set()
    when = None
    caps: tuple[str, ...] = ()
    content_type = message_digest = False
    for attr in children(der, attrs, _WHAT):
        kind, values = children(der, _one(der, attr, UNIVERSAL, SEQUENCE, constructed=True), _WHAT)
        oid = _dotted(der[_one(der, kind, UNIVERSAL, _OBJECT_IDENTIFIER, constructed=False).start
                          : kind.next])
        items = children(der, _one(der, values, UNIVERSAL, SET, constructed=True), _WHAT)
        if oid in seen:
            return None
        seen.add(oid)
        names.append(oid_name(oid))
        if oid == CONTENT_TYPE_OID:
            if len(items) != 1 or der[items[0].start : items[0].next] != _DATA:
                return None
            content_type = True
        elif oid == MESSAGE_DIGEST_OID:
            value = _single(der, items, OCTET_STRING)
            actual = ctx.digest(digest)
            if actual is None or not hmac.compare_digest(der[value.body : value.end], actual):
                return None
            message_digest = True
        elif oid == SIGNING_TIME_OID:
            value = _single(der, items, _UTC_TIME)
            when = utc_time(der[value.body : value.end])
            if when is None:
                return None
        elif oid in _PREFERENCES:
            preferences.append(der[attr.start : attr.next])
        elif oid == SMIME_CAPABILITIES_OID:
            caps = capabilities(der[values.start : values.next],
                                partial(_read_capabilities, der[attr.start : attr.next]))
    if not (content_type and message_digest):
        return None
    preference = None
    if preferences:
        found = tuple(preferences)
        preference = _KEY_PREFERENCES.get_or_make(found, lambda: _key_preference(found)).value
    return tuple(names), when, caps, preference


def _single(der: bytes, values: list[Tlv], tag: int) -> Tlv:
    """The one value of an attribute, a primitive of this universal tag (else ParseError:
    the full path says what is wrong)."""
    if len(values) != 1:
        raise ParseError("not the common shape")
    return _one(der, values[0], UNIVERSAL, tag, constructed=False)


def _read_capabilities(attribute: bytes) -> tuple[str, ...]:
    return read_capabilities(CMSAttribute.load(attribute, strict=True)["values"])

