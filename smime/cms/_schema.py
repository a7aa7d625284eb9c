"""Our CMS schemas: those asn1crypto lacks, and its own subclassed where they fall short.

asn1crypto 1.5 parses an attribute it has no schema for generically, which fails on
context-specific tags such as [0] (an RSAES-OAEP capability, an ESS receipt request,
Microsoft's SpcSpOpusInfo, RFC 4134's securityLabel): one such attribute would make a
whole SignedData unreadable. It knows AES-GCM's OID but not its RFC 5084 parameters, and
no ECDH key-agreement scheme (RFC 5753, RFC 8418).

Teaching asn1crypto by assigning to its classes would change how every other library in
the process reads CMS. So each class whose reading we change is subclassed (asn1crypto's
own idiom: copied ``_map``, ``_fields``, ``_oid_specs``), and so is every class above it,
up to ContentInfo. Everything in this layer that parses or builds CMS uses these classes.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import algos, cms, core

from ..algorithms import DES_EDE3_WRAP_OID, ID_ORI_KEM_OID, KDF_SCHEMES, RSAES_OAEP_OID

__all__ = [
    "AuthEnvelopedData",
    "AuthenticatedData",
    "BareDigestAlgorithm",
    "CMSAttribute",
    "CMSAttributes",
    "CMSORIforKEMOtherInfo",
    "Capabilities",
    "CompressedData",
    "ContentInfo",
    "DigestedData",
    "EccCmsSharedInfo",
    "EncapsulatedContentInfo",
    "EncryptedContentInfo",
    "EncryptedData",
    "EncryptionAlgorithm",
    "EnvelopedData",
    "GcmParams",
    "KEKRecipientInfo",
    "KEMRecipientInfo",
    "KeyAgreeRecipientInfo",
    "KeyEncryptionAlgorithm",
    "KeyEncryptionAlgorithmId",
    "KeyTransRecipientInfo",
    "KeyWrapAlgorithm",
    "OaepParameters",
    "OpaqueValues",
    "OtherRecipientInfo",
    "PasswordRecipientInfo",
    "RecipientInfo",
    "RecipientInfos",
    "SetOfCapabilities",
    "SetOfContentInfo",
    "SignedAndEnvelopedData",
    "SignedData",
    "SignerInfo",
    "SignerInfos",
]


def _replaced(specs: list[tuple[Any, ...]], **new: type | None) -> list[tuple[Any, ...]]:
    """A copy of asn1crypto's ``_fields`` or ``_alternatives`` with the named specs swapped.

    Every class here owns its copy, parameter dicts included: asn1crypto normalises these
    tables in place the first time a class is used.
    """
    missing = set(new) - {entry[0] for entry in specs}
    if missing:  # a newer asn1crypto renamed something: fail at import, not on some message
        raise LookupError(f"asn1crypto schema has no field {', '.join(sorted(missing))}")
    return [
        (entry[0], new.get(entry[0], entry[1]), dict(entry[2]) if len(entry) > 2 else {})
        for entry in specs
    ]


# ---------------------------------------------------------------------------- algorithms


class GcmParams(core.Sequence):
    """RFC 5084 GCMParameters: the nonce and the tag length (12 when absent)."""

    _fields = [
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


class BareDigestAlgorithm(core.Sequence):
    """asn1crypto's DigestAlgorithm forces NULL parameters; RFC 5754 (SHA-2) and RFC 8419
    (Ed25519's SHA-512) want them absent, as OpenSSL writes them."""

    _fields = [
        ("algorithm", algos.DigestAlgorithmId),
        ("parameters", core.Any, {"optional": True}),
    ]


class EncryptionAlgorithm(algos.EncryptionAlgorithm):
    """A content-encryption AlgorithmIdentifier that reads AES-GCM's parameters."""

    _fields = _replaced(algos.EncryptionAlgorithm._fields)
    _oid_specs = {
        **algos.EncryptionAlgorithm._oid_specs,
        **dict.fromkeys(("aes128_gcm", "aes192_gcm", "aes256_gcm"), GcmParams),
    }


class KeyEncryptionAlgorithmId(cms.KeyEncryptionAlgorithmId):
    """asn1crypto's key-encryption OIDs plus the ECDH schemes and RFC 3217's 3DES wrap."""

    _map = {
        **cms.KeyEncryptionAlgorithmId._map,
        **{scheme.oid: scheme.asn1_name for scheme in KDF_SCHEMES.values()},
        DES_EDE3_WRAP_OID: "des_ede3_wrap",
    }
    _reverse_map = {
        **cms.KeyEncryptionAlgorithmId._reverse_map,
        **{scheme.asn1_name: scheme.oid for scheme in KDF_SCHEMES.values()},
        "des_ede3_wrap": DES_EDE3_WRAP_OID,
    }


class KeyWrapAlgorithm(cms.KeyEncryptionAlgorithm):
    """A key-encryption AlgorithmIdentifier over our OIDs (a key-agreement scheme's wrap)."""

    _fields = _replaced(cms.KeyEncryptionAlgorithm._fields, algorithm=KeyEncryptionAlgorithmId)


class KeyEncryptionAlgorithm(KeyWrapAlgorithm):
    """A key-agreement scheme's parameters name the key-wrap algorithm (RFC 5753)."""

    _oid_specs = {
        **cms.KeyEncryptionAlgorithm._oid_specs,
        **dict.fromkeys(KDF_SCHEMES, KeyWrapAlgorithm),
    }


class EccCmsSharedInfo(core.Sequence):
    """RFC 5753 ECC-CMS-SharedInfo: what the KDF binds the key-encryption key to."""

    _fields = [
        ("key_info", KeyWrapAlgorithm),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


# ---------------------------------------------------------------------------- attributes


class OaepParameters(core.Sequence):
    """RSAES-OAEP-params with its DEFAULTs read as absent: asn1crypto builds a default it
    finds missing and then re-encodes every enclosing structure on each access."""

    _fields = [
        ("hash_algorithm", algos.DigestAlgorithm, {"explicit": 0, "optional": True}),
        ("mask_gen_algorithm", algos.MaskGenAlgorithm, {"explicit": 1, "optional": True}),
        ("p_source_algorithm", algos.PSourceAlgorithm, {"explicit": 2, "optional": True}),
    ]


class _Capability(core.Sequence):
    """SMIMECapability; asn1crypto's parses parameters generically, which fails on
    RSAES-OAEP's explicit [0] tags."""

    _fields = [
        ("capability_id", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]
    _oid_pair = ("capability_id", "parameters")
    _oid_specs = {RSAES_OAEP_OID: OaepParameters}


class Capabilities(core.SequenceOf):
    _child_spec = _Capability


class SetOfCapabilities(core.SetOf):
    _child_spec = Capabilities


class OpaqueValues(core.SetOf):
    """Values of an attribute we have no schema for, kept as DER for whoever reads them."""

    _child_spec = core.Any

    @property
    def native(self) -> list[bytes]:
        return [bytes(child.dump()) for child in self]


class CMSAttribute(cms.CMSAttribute):
    """An attribute read by our schemas (``_ATTRIBUTE_SPECS``, below: some nest CMS); one we
    do not know keeps its values opaque."""

    _fields = _replaced(cms.CMSAttribute._fields)

    def _values_spec(self) -> type:
        return _ATTRIBUTE_SPECS.get(self["type"].native, OpaqueValues)

    _spec_callbacks = {"values": _values_spec}


class CMSAttributes(cms.CMSAttributes):
    _child_spec = CMSAttribute


# ---------------------------------------------------------------------------- signed data


class SignerInfo(cms.SignerInfo):
    _fields = _replaced(cms.SignerInfo._fields, signed_attrs=CMSAttributes,
                        unsigned_attrs=CMSAttributes)


class SignerInfos(cms.SignerInfos):
    _child_spec = SignerInfo


class _Encapsulated(core.Sequence):
    """Structures holding an EncapsulatedContentInfo (ours, defined below)."""

    def _encap_content_info_spec(self) -> type:
        return EncapsulatedContentInfo

    _spec_callbacks = {"encap_content_info": _encap_content_info_spec}


class _EncapsulatedByVersion(core.Sequence):
    """SignedData and DigestedData: a v1 structure may be PKCS #7, whose content is of any
    type (read as a ContentInfo); later versions are CMS (RFC 5652 5.1)."""

    def _encap_content_info_spec(self) -> type:
        return ContentInfo if self["version"].native == "v1" else EncapsulatedContentInfo

    _spec_callbacks = {"encap_content_info": _encap_content_info_spec}


class SignedData(_EncapsulatedByVersion, cms.SignedData):
    _fields = _replaced(cms.SignedData._fields, signer_infos=SignerInfos)


class DigestedData(_EncapsulatedByVersion, cms.DigestedData):
    _fields = _replaced(cms.DigestedData._fields)


# ---------------------------------------------------------------------------- recipients


def _with_key_encryption(base: type[cms.Sequence]) -> type[cms.Sequence]:
    """``base`` reading its key encryption algorithm with :class:`KeyEncryptionAlgorithm`."""
    fields = _replaced(base._fields, key_encryption_algorithm=KeyEncryptionAlgorithm)
    return type(base.__name__, (base,), {"_fields": fields, "__module__": __name__})


KeyTransRecipientInfo = _with_key_encryption(cms.KeyTransRecipientInfo)
KeyAgreeRecipientInfo = _with_key_encryption(cms.KeyAgreeRecipientInfo)
KEKRecipientInfo = _with_key_encryption(cms.KEKRecipientInfo)
PasswordRecipientInfo = _with_key_encryption(cms.PasswordRecipientInfo)


class _AlgorithmIdentifier(core.Sequence):
    """An AlgorithmIdentifier whose OID we interpret ourselves (a KEM, a KDF)."""

    _fields = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class KEMRecipientInfo(core.Sequence):
    """RFC 9629 KEMRecipientInfo; ``kekLength`` is the key-encryption key's length in bytes."""

    _fields = [
        ("version", cms.CMSVersion),
        ("rid", cms.RecipientIdentifier),
        ("kem", _AlgorithmIdentifier),
        ("kemct", core.OctetString),
        ("kdf", _AlgorithmIdentifier),
        ("kek_length", core.Integer),
        ("ukm", core.OctetString, {"explicit": 0, "optional": True}),
        ("wrap", KeyWrapAlgorithm),
        ("encrypted_key", core.OctetString),
    ]


class CMSORIforKEMOtherInfo(core.Sequence):
    """RFC 9629 section 5: the KDF's ``info``, binding the KEK to the wrap and its length."""

    _fields = [
        ("wrap", KeyWrapAlgorithm),
        ("kek_length", core.Integer),
        ("ukm", core.OctetString, {"explicit": 0, "optional": True}),
    ]


class OtherRecipientInfo(cms.OtherRecipientInfo):
    """OtherRecipientInfo reading id-ori-kem's value as a KEMRecipientInfo (RFC 9629)."""

    _fields = _replaced(cms.OtherRecipientInfo._fields)
    _oid_pair = ("ori_type", "ori_value")
    _oid_specs = {ID_ORI_KEM_OID: KEMRecipientInfo}


class RecipientInfo(cms.RecipientInfo):
    _alternatives = _replaced(
        cms.RecipientInfo._alternatives, ktri=KeyTransRecipientInfo, kari=KeyAgreeRecipientInfo,
        kekri=KEKRecipientInfo, pwri=PasswordRecipientInfo, ori=OtherRecipientInfo,
    )


class RecipientInfos(cms.RecipientInfos):
    _child_spec = RecipientInfo


# ---------------------------------------------------------------------------- encrypted data


class EncryptedContentInfo(cms.EncryptedContentInfo):
    _fields = _replaced(cms.EncryptedContentInfo._fields,
                        content_encryption_algorithm=EncryptionAlgorithm)


class EnvelopedData(cms.EnvelopedData):
    _fields = _replaced(cms.EnvelopedData._fields, recipient_infos=RecipientInfos,
                        encrypted_content_info=EncryptedContentInfo,
                        unprotected_attrs=CMSAttributes)


class AuthEnvelopedData(cms.AuthEnvelopedData):
    _fields = _replaced(cms.AuthEnvelopedData._fields, recipient_infos=RecipientInfos,
                        auth_encrypted_content_info=EncryptedContentInfo,
                        auth_attrs=CMSAttributes, unauth_attrs=CMSAttributes)


class SignedAndEnvelopedData(cms.SignedAndEnvelopedData):
    _fields = _replaced(cms.SignedAndEnvelopedData._fields, recipient_infos=RecipientInfos,
                        encrypted_content_info=EncryptedContentInfo, signer_infos=SignerInfos)


class EncryptedData(cms.EncryptedData):
    _fields = _replaced(cms.EncryptedData._fields, encrypted_content_info=EncryptedContentInfo,
                        unprotected_attrs=CMSAttributes)


class AuthenticatedData(_Encapsulated, cms.AuthenticatedData):
    _fields = _replaced(cms.AuthenticatedData._fields, recipient_infos=RecipientInfos,
                        encap_content_info=None, auth_attrs=CMSAttributes,
                        unauth_attrs=CMSAttributes)


# ---------------------------------------------------------------------------- content info


class CompressedData(_Encapsulated, cms.CompressedData):
    _fields = _replaced(cms.CompressedData._fields, encap_content_info=None)


_CONTENT = {
    "signed_data": SignedData,
    "enveloped_data": EnvelopedData,
    "signed_and_enveloped_data": SignedAndEnvelopedData,
    "digested_data": DigestedData,
    "encrypted_data": EncryptedData,
    "authenticated_data": AuthenticatedData,
    "compressed_data": CompressedData,
    "authenticated_enveloped_data": AuthEnvelopedData,
}


class EncapsulatedContentInfo(cms.EncapsulatedContentInfo):
    _fields = _replaced(cms.EncapsulatedContentInfo._fields)
    _oid_specs = dict(_CONTENT)


class ContentInfo(cms.ContentInfo):
    _fields = _replaced(cms.ContentInfo._fields)
    _oid_specs = {"data": core.OctetString, **_CONTENT}


class SetOfContentInfo(cms.SetOfContentInfo):
    _child_spec = ContentInfo


#: asn1crypto's attribute schemas, with ours wherever they nest CMS (countersignatures,
#: timestamp tokens) and for SMIMECapabilities.
_ATTRIBUTE_SPECS: dict[str, type] = {
    **cms.CMSAttribute._oid_specs,
    "counter_signature": SignerInfos,
    "signature_time_stamp_token": SetOfContentInfo,
    "microsoft_nested_signature": SetOfContentInfo,
    "microsoft_time_stamp_token": SetOfContentInfo,
    "smime_capabilities": SetOfCapabilities,
}
