"""What a CMS structure is as an S/MIME layer: the one dispatch the API and inspection share.

``unwrap`` peels layers and ``inspect`` describes them; both decide what to do with a
ContentInfo by asking :func:`content_kind`, so that the two cannot disagree about which
content types sign, encrypt or compress.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, TypeAlias

from ._asn1 import content_type_of

__all__ = ["LAYERS", "ContentKind", "LayerKind", "content_kind"]

LayerKind: TypeAlias = Literal["signed", "encrypted", "compressed"]

#: The content types that make an S/MIME layer (RFC 8551 section 3, RFC 5083, RFC 3274),
#: by asn1crypto's name. A certs-only message is SignedData without signers: "signed".
LAYERS: Mapping[str, LayerKind] = MappingProxyType({
    "signed_data": "signed",
    "enveloped_data": "encrypted",
    "authenticated_enveloped_data": "encrypted",
    "compressed_data": "compressed",
})


@dataclass(frozen=True)
class ContentKind:
    """A ContentInfo's content type, and the layer it makes (None: no S/MIME layer)."""

    name: str
    """asn1crypto's name of the content type: ``signed_data``, ``enveloped_data``..."""
    layer: LayerKind | None

    @property
    def label(self) -> str:
        """The name as messages spell it: ``signed-data``, ``enveloped-data``..."""
        return self.name.replace("_", "-")

    @property
    def authenticated(self) -> bool:
        """Encrypted with integrity (AuthEnvelopedData), decided without opening it."""
        return self.name == "authenticated_enveloped_data"


def content_kind(der: bytes) -> ContentKind:
    """What the ContentInfo ``der`` holds; reads only its outer structure (cheap on 100 MB).

    :class:`~smime.errors.ParseError` when ``der`` is not a ContentInfo.
    """
    name = content_type_of(der)
    return ContentKind(name, LAYERS.get(name))
