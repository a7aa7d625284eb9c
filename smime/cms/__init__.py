"""CMS (RFC 5652) structures on asn1crypto, with cryptography doing the arithmetic.

This layer takes and returns bytes and value objects; it knows nothing of MIME. The layers
above import what they use from here (``from smime.cms import verify_signed_data``); the
underscore modules are this layer's own, and no module outside ``smime.cms`` imports them
(tests/test_quality.py and the import-linter contracts check it).
"""

from ._asn1 import content_type_of
from ._stream_enveloped import (
    EnvelopedStreamInfo,
    decrypt_enveloped_stream,
    encrypt_enveloped_stream,
)
from ._stream_signed import (
    SignedStream,
    digest_blocks,
    read_signed_stream,
    signer_digest_names,
    verify_signed_digests,
)
from .certs import create_certs_only, read_certs_only
from .compressed import (
    DecompressedData,
    create_compressed_data,
    decompress_data,
    read_compressed_data,
)
from .enveloped import (
    DecryptedData,
    EnvelopedSummary,
    EnvelopeOptions,
    RecipientSpec,
    RecipientSummary,
    create_enveloped_data,
    decrypt_enveloped_data,
    describe_enveloped_data,
    enveloped_data_chunks,
)
from .kinds import LAYERS, ContentKind, LayerKind, content_kind
from .signed import (
    EncryptionKeyPreference,
    SignedDataInfo,
    SignerCheck,
    SignerIdentifier,
    SignerSpec,
    create_signed_data,
    verify_signed_data,
)

__all__ = [
    "LAYERS",
    "ContentKind",
    "DecompressedData",
    "DecryptedData",
    "EncryptionKeyPreference",
    "EnvelopeOptions",
    "EnvelopedStreamInfo",
    "EnvelopedSummary",
    "LayerKind",
    "RecipientSpec",
    "RecipientSummary",
    "SignedDataInfo",
    "SignedStream",
    "SignerCheck",
    "SignerIdentifier",
    "SignerSpec",
    "content_kind",
    "content_type_of",
    "create_certs_only",
    "create_compressed_data",
    "create_enveloped_data",
    "create_signed_data",
    "decompress_data",
    "decrypt_enveloped_data",
    "decrypt_enveloped_stream",
    "describe_enveloped_data",
    "digest_blocks",
    "encrypt_enveloped_stream",
    "enveloped_data_chunks",
    "read_certs_only",
    "read_compressed_data",
    "read_signed_stream",
    "signer_digest_names",
    "verify_signed_data",
    "verify_signed_digests",
]
