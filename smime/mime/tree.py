"""The parts of a message as a reader's client lists them: path, type, file name.

``unwrap`` needs this to say which parts of a partly protected message were protected
and which were not (an encrypted attachment next to plain text), without opening any.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ParseError
from ._policy import MAX_DEPTH
from ._raw import RawEntity, read_entity, split_multipart
from .message import check_is_message, reading
from .parse import _param, classify_part

__all__ = ["PartInfo", "leaf_parts"]


@dataclass(frozen=True)
class PartInfo:
    """One part: ``path`` (``"2"``, ``"1.2"``; ``""`` the whole message), its content
    type and file name, and ``smime``: ``"pkcs7-mime"``, ``"multipart/signed"`` or ``""``."""

    path: str
    content_type: str
    filename: str
    smime: str
    start: int = 0
    end: int = 0
    """Where the part (its headers and body) lies in the data given."""


def _smime(entity: RawEntity) -> str:
    if entity.content_type == "multipart/signed":
        return "multipart/signed"
    kind = classify_part(entity.headers)
    return kind if kind == "pkcs7-mime" else ""


def leaf_parts(data: bytes) -> tuple[PartInfo, ...]:
    """Every part a client shows on its own, in order: leaves, and S/MIME parts (a
    multipart/signed counts as one part: what it holds is its content)."""
    check_is_message(data)
    out: list[PartInfo] = []
    with reading("message"):
        stack: list[tuple[RawEntity, str, int]] = [(read_entity(data, 0, len(data)), "", 0)]
        while stack:
            entity, path, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise ParseError(
                    f"malformed message: MIME parts nested deeper than {MAX_DEPTH} levels"
                )
            smime = _smime(entity)
            boundary = entity.boundary() if entity.content_type.startswith("multipart/") else None
            if smime or not boundary:
                name = _param(entity.headers, "filename", "content-disposition") or _param(
                    entity.headers, "name") or ""
                out.append(PartInfo(path, entity.content_type, name.strip(), smime,
                                    entity.start, entity.end))
                continue
            parts, _ = split_multipart(data, entity.body, entity.end, boundary)
            stack.extend(reversed([
                (read_entity(data, s, e), f"{path}.{i}" if path else str(i), depth + 1)
                for i, (s, e) in enumerate(parts, 1)
            ]))
    return tuple(out)
