"""Schemas asn1crypto gets wrong for signed attributes, fixed once for every CMS parse.

``load_content_info`` walks every value, and asn1crypto parses values it has no schema
for generically, which fails on context-specific tags such as [0]. One such attribute (an
RSAES-OAEP capability, an ESS receipt request, Microsoft's SpcSpOpusInfo, RFC 4134's
securityLabel) would make a whole SignedData unreadable. Imported by ``_asn1`` so that the
fix is in place before anything is parsed.
"""

from __future__ import annotations

from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core

__all__ = ["RSAES_OAEP_OID", "Capabilities", "OaepParameters", "SetOfCapabilities"]

RSAES_OAEP_OID = "1.2.840.113549.1.1.7"


class OaepParameters(asn1_core.Sequence):
    """RSAES-OAEP-params with its DEFAULTs read as absent: asn1crypto builds a default it
    finds missing and then re-encodes every enclosing structure on each access."""

    _fields = [  # noqa: RUF012 - asn1crypto's schema attribute
        ("hash_algorithm", asn1_algos.DigestAlgorithm, {"explicit": 0, "optional": True}),
        ("mask_gen_algorithm", asn1_algos.MaskGenAlgorithm, {"explicit": 1, "optional": True}),
        ("p_source_algorithm", asn1_algos.PSourceAlgorithm, {"explicit": 2, "optional": True}),
    ]


class _Capability(asn1_core.Sequence):
    _fields = [  # noqa: RUF012
        ("capability_id", asn1_core.ObjectIdentifier),
        ("parameters", asn1_core.Any, {"optional": True}),
    ]
    _oid_pair = ("capability_id", "parameters")
    _oid_specs = {RSAES_OAEP_OID: OaepParameters}  # noqa: RUF012


class Capabilities(asn1_core.SequenceOf):
    _child_spec = _Capability


class SetOfCapabilities(asn1_core.SetOf):
    _child_spec = Capabilities


class _OpaqueValues(asn1_core.SetOf):
    """Values of an attribute we have no schema for, kept as DER.

    asn1crypto would parse them generically, which fails on context-specific tags such as
    [0] (ESS receipt requests, Microsoft's SpcSpOpusInfo, RFC 4134's securityLabel): one
    unknown attribute would make the whole SignedData unreadable.
    """

    _child_spec = asn1_core.Any

    @property
    def native(self) -> list[bytes]:
        return [bytes(child.dump()) for child in self]


class _AttributeSpecs(dict):  # type: ignore[type-arg]
    """asn1crypto's attribute-value table, with opaque values instead of generic parsing."""

    def get(self, key: object, default: object = None) -> object:
        return super().get(key, _OpaqueValues)


# asn1crypto's own capability schema parses parameters generically, which fails on
# RSAES-OAEP's explicit [0] tags.
asn1_cms.CMSAttribute._oid_specs["smime_capabilities"] = SetOfCapabilities
if not isinstance(asn1_cms.CMSAttribute._oid_specs, _AttributeSpecs):
    asn1_cms.CMSAttribute._oid_specs = _AttributeSpecs(asn1_cms.CMSAttribute._oid_specs)
