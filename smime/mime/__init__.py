"""The MIME layer: RFC 8551 canonical form, S/MIME wrappers, and finding S/MIME parts.

Pure functions from bytes or messages to bytes or messages. No cryptography here: the API
layer hands the entity from :func:`prepare_entity` to the CMS layer and the DER it gets
back to :func:`build_multipart_signed` or :func:`build_pkcs7_mime`; on receipt,
:func:`find_smime_part` gives it the DER and the exact signed bytes, and
:func:`parse_inner` turns decrypted content into the message a mail client shows.
"""

from __future__ import annotations

from ._headers import encodable_text, header_text
from ._lazy import WireMessage
from ._policy import MAX_DEPTH, POLICY
from ._raw import EntityHeaders, read_entity
from .canonical import PreparedEntity, prepare_entity
from .compose import SMIME_TYPES, build_multipart_signed, build_pkcs7_mime, parse_inner
from .message import input_bytes, message_bytes, to_message
from .parse import PartKind, SMIMEPart, classify_part, find_smime_part, with_content
from .protect import (
    HCP_NAMES,
    HeaderPolicy,
    ProtectedSection,
    carried_hp,
    header_policy,
    protect_entity,
    protected_section,
    without_legacy_display,
)
from .signed_view import SignedView, signed_view
from .tree import PartInfo, leaf_parts

__all__ = [
    "HCP_NAMES",
    "MAX_DEPTH",
    "POLICY",
    "SMIME_TYPES",
    "EntityHeaders",
    "HeaderPolicy",
    "PartInfo",
    "PartKind",
    "PreparedEntity",
    "ProtectedSection",
    "SMIMEPart",
    "SignedView",
    "WireMessage",
    "build_multipart_signed",
    "build_pkcs7_mime",
    "carried_hp",
    "classify_part",
    "encodable_text",
    "find_smime_part",
    "header_policy",
    "header_text",
    "input_bytes",
    "leaf_parts",
    "message_bytes",
    "parse_inner",
    "prepare_entity",
    "protect_entity",
    "protected_section",
    "read_entity",
    "signed_view",
    "to_message",
    "with_content",
    "without_legacy_display",
]
