"""Does the certificate belong to this sender, and may its key sign mail?

A valid chain only says a CA vouches for a key. A mail client must also check that the CA
vouched for *this* sender (the From address is in the certificate) and for *this*
purpose (keyUsage and extendedKeyUsage), or any customer of any trusted CA could sign as
anyone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from .._cache import LRUCache
from ..core.certs import MALFORMED, email_usage_allowed, extension
from ..keys import CertificateLike, certificate_emails, to_certificate
from ..problems import Problem, ProblemCode
from .policy import DEFAULT_POLICY, VerificationPolicy

__all__ = ["check_key_usage", "check_sender", "normalize_address", "signer_addresses"]

#: RFC 8398 SmtpUTF8Mailbox otherName, for internationalized local parts.
SMTP_UTF8_MAILBOX = x509.ObjectIdentifier("1.3.6.1.5.5.7.8.9")

#: What a certificate alone decides, by certificate (its DER): the addresses it names, and
#: its key usage problems under the two switches that ask for them. A stream of messages
#: from one signer reads the same extensions in every one.
_ADDRESSES: LRUCache[tuple[str, ...]] = LRUCache("validation.signer_addresses", 512)
_USAGE: LRUCache[tuple[Problem, ...]] = LRUCache("validation.key_usage_problems", 512)

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "TLS server authentication",
    ExtendedKeyUsageOID.CLIENT_AUTH: "TLS client authentication",
    ExtendedKeyUsageOID.CODE_SIGNING: "code signing",
    ExtendedKeyUsageOID.TIME_STAMPING: "time stamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSP signing",
}


def normalize_address(address: str) -> str:
    """``Alice <Alice@Example.COM>`` -> ``alice@example.com`` (IDNA domains as A-labels)."""
    text = address.strip()
    if "<" in text and text.endswith(">"):
        text = text[text.rindex("<") + 1 : -1].strip()
    local, sep, domain = text.rpartition("@")
    if not sep:
        return text.lower()
    if not domain.isascii():  # the idna codec gives an ASCII domain back as it is
        with contextlib.suppress(UnicodeError):
            domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}".lower()


def signer_addresses(cert: CertificateLike) -> tuple[str, ...]:
    """Every address the certificate names: rfc822Name, SmtpUTF8Mailbox, subject email."""
    c = to_certificate(cert)
    return _ADDRESSES.get_or_make(c, lambda: _signer_addresses(c))


def _signer_addresses(c: x509.Certificate) -> tuple[str, ...]:
    found = list(certificate_emails(c))
    san = extension(c, x509.SubjectAlternativeName, strict=True)  # unreadable: cannot bind
    for other in san.get_values_for_type(x509.OtherName) if san is not None else ():
        if other.type_id == SMTP_UTF8_MAILBOX:
            with contextlib.suppress(ValueError, TypeError):  # asn1crypto on a bad value
                value = asn1_core.UTF8String.load(other.value).native
                if isinstance(value, str):
                    found.append(value)
    seen: dict[str, None] = {}
    for address in found:
        seen.setdefault(normalize_address(address), None)
    return tuple(seen)


def check_sender(
    cert: CertificateLike,
    addresses: Sequence[str],
    *,
    sender: Sequence[str] = (),
    policy: VerificationPolicy = DEFAULT_POLICY,
) -> Problem | None:
    """SENDER_MISMATCH unless the certificate names every From address in ``addresses``.

    RFC 5322 allows several authors in From; the signature vouches for each one shown, so
    one address the certificate does not name is a mismatch. ``sender`` (the Sender
    header) binds instead only when ``policy.allow_sender_header``: an agent sending on
    the authors' behalf. Addresses compare case-insensitively as a whole, as mail clients
    do. No From address at all is NO_SENDER. None when the policy does not require a match.
    """
    if not policy.require_sender_match:
        return None
    wanted = _normalized(addresses)
    named = signer_addresses(cert)
    if wanted and all(address in named for address in wanted):
        return None
    agents = _normalized(sender) if policy.allow_sender_header else []
    if agents and all(address in named for address in agents):
        return None
    if not wanted:
        return Problem(
            ProblemCode.NO_SENDER,
            "the message has no From address, so nothing binds the signer to a sender",
        )
    authors = ", ".join(wanted)
    if not named:
        return Problem(
            ProblemCode.SENDER_MISMATCH,
            f"the signer's certificate names no email address, but the message is From {authors}",
        )
    text = f"signed by {', '.join(named)} but the message is From {authors}"
    missing = [address for address in wanted if address not in named]
    if len(missing) < len(wanted):
        text += f"; every From address must be the signer's, and {', '.join(missing)} is not"
    return Problem(ProblemCode.SENDER_MISMATCH, text)


def _normalized(addresses: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(normalize_address(a) for a in addresses if a and a.strip()))


def check_key_usage(
    cert: CertificateLike, policy: VerificationPolicy = DEFAULT_POLICY
) -> tuple[Problem, ...]:
    """KEY_USAGE / EXTENDED_KEY_USAGE problems of a signer certificate, trusted or not.

    keyUsage, when present, must allow digitalSignature or nonRepudiation. An
    extendedKeyUsage extension must list emailProtection or anyExtendedKeyUsage; no EKU
    extension at all is acceptable (RFC 8550 §4.4.4).
    """
    c = to_certificate(cert)
    switches = (policy.check_key_usage, policy.require_email_protection_eku)
    return _USAGE.get_or_make((c, switches), lambda: _key_usage_problems(c, policy))


def _key_usage_problems(c: x509.Certificate, policy: VerificationPolicy) -> tuple[Problem, ...]:
    problems: list[Problem] = []
    if policy.check_key_usage:
        problem = _key_usage_problem(c)
        if problem:
            problems.append(problem)
    if policy.require_email_protection_eku:
        problem = _eku_problem(c)
        if problem:
            problems.append(problem)
    return tuple(problems)


def _malformed(extension_name: str, exc: Exception) -> Problem:
    return Problem(ProblemCode.MALFORMED, f"the certificate's {extension_name} is malformed: {exc}")


def _key_usage_problem(cert: x509.Certificate) -> Problem | None:
    try:
        ku = extension(cert, x509.KeyUsage, strict=True)
    except MALFORMED as exc:
        return _malformed("keyUsage", exc)
    if ku is None or ku.digital_signature or ku.content_commitment:
        return None
    allowed = [
        name for name, attr in (
            ("keyEncipherment", "key_encipherment"), ("dataEncipherment", "data_encipherment"),
            ("keyAgreement", "key_agreement"), ("keyCertSign", "key_cert_sign"),
            ("cRLSign", "crl_sign"),
        ) if getattr(ku, attr)
    ]
    what = ", ".join(allowed) or "nothing"
    return Problem(
        ProblemCode.KEY_USAGE,
        f"the signer's certificate may not sign: its key usage allows only {what}, "
        "not digitalSignature or nonRepudiation",
    )


def _eku_problem(cert: x509.Certificate) -> Problem | None:
    try:
        eku = extension(cert, x509.ExtendedKeyUsage, strict=True)
    except MALFORMED as exc:
        return _malformed("extendedKeyUsage", exc)
    oids = list(eku or ())
    if eku is None or email_usage_allowed(oids):
        return None
    purposes = ", ".join(_EKU_NAMES.get(o, o.dotted_string) for o in oids) or "no purpose"
    return Problem(
        ProblemCode.EXTENDED_KEY_USAGE,
        f"the signer's certificate is for {purposes}, not email protection "
        "(its extendedKeyUsage lacks emailProtection)",
    )
