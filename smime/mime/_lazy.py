"""An EmailMessage that is its wire bytes until someone looks inside.

The builders produce exact bytes; parsing them back into an ``EmailMessage`` costs more
than the cryptography for small messages, and several copies for large ones. A
``WireMessage`` keeps the bytes, answers ``as_bytes()`` with them unchanged, and parses
itself (once) on the first read of any header, part or payload. Reading does not change
the answer: ``as_bytes()`` stays the original bytes until the message tree is modified
(the stock generator cannot always write back what it parsed, e.g. an RFC 2231 boundary).
"""

from __future__ import annotations

from email.message import EmailMessage, Message
from email.policy import Policy
from typing import Any

from ._policy import POLICY

__all__ = ["WireMessage"]

#: The instance attributes ``email.message.Message.__init__`` sets: reading any of them
#: parses the wire bytes.
_STATE = ("_headers", "_unixfrom", "_payload", "_charset", "preamble", "epilogue", "defects",
          "_default_type")


class _ParsedOnRead:
    """A non-data descriptor: the parsed value lands in the instance and shadows it."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: WireMessage | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        obj._materialize()
        return obj.__dict__[self.name]


class WireMessage(EmailMessage):
    """A message built from (or read as) exact wire bytes with CRLF line ends."""

    def __init__(self, wire: bytes, policy: Policy = POLICY) -> None:
        self.__dict__["policy"] = policy
        self.__dict__["_wire"] = wire

    @property
    def parsed(self) -> bool:
        return "_headers" in self.__dict__

    def __repr__(self) -> str:
        """What the message is, not where its class lives: content type and size."""
        return f"<EmailMessage {self.get_content_type()}, {len(self.as_bytes()):,} bytes>"

    def _materialize(self) -> None:
        if self.parsed:
            return
        from .message import parse_bytes  # parse_bytes bounds depth and maps errors

        message = parse_bytes(self.__dict__["_wire"], require_headers=False)
        for name in _STATE:
            self.__dict__[name] = message.__dict__[name]
        self.__dict__["_parsed_shape"] = _shape(self)

    def wire(self) -> bytes | None:
        """The bytes this message was made from, or None once its tree has been modified."""
        if self.parsed and _shape(self) != self.__dict__["_parsed_shape"]:
            return None
        return bytes(self.__dict__["_wire"])

    def as_bytes(self, unixfrom: bool = False, policy: Policy | None = None) -> bytes:
        if not unixfrom and (policy is None or policy.linesep == "\r\n"):
            wire = self.wire()
            if wire is not None:
                return wire
        from .message import flatten

        return flatten(self, self.policy if policy is None else policy, unixfrom=unixfrom)

    def as_string(
        self, unixfrom: bool = False, maxheaderlen: int | None = None, policy: Policy | None = None
    ) -> str:
        """Text for display that always encodes: where the ``email`` text generator fails
        (8-bit headers, unknown charsets) or keeps raw 8-bit bytes as surrogate escapes,
        the wire bytes decoded as UTF-8 instead."""
        from .message import MESSAGE_FAILURES

        try:
            text = super().as_string(unixfrom=unixfrom, maxheaderlen=maxheaderlen, policy=policy)
            text.encode("utf-8")
        except MESSAGE_FAILURES:  # UnicodeEncodeError included
            return self.as_bytes(unixfrom=unixfrom).decode("utf-8", "replace")
        return text

    def __bytes__(self) -> bytes:
        return self.as_bytes()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as its bytes (the tree, once modified, as written out) and any attribute
        a subclass adds (``DecryptedMessage.decryption``); the other process parses it
        again when it looks inside, as here."""
        extra = {name: value for name, value in self.__dict__.items()
                 if name not in _STATE and name not in _OWN}
        policy = self.__dict__["policy"]
        return _unpickle, (type(self), self.as_bytes(), None if policy is POLICY else policy,
                           extra)


#: WireMessage's own attributes, which a pickle does not carry as they are.
_OWN = ("_wire", "_parsed_shape", "policy")


def _unpickle(
    cls: type[WireMessage], wire: bytes, policy: Policy | None, extra: dict[str, Any]
) -> WireMessage:
    message = cls.__new__(cls)
    WireMessage.__init__(message, wire, POLICY if policy is None else policy)
    message.__dict__.update(extra)
    return message


def _shape(message: Message) -> list[tuple[Any, ...]]:
    """What serialising the tree depends on, taken part by part without recursion: two
    equal shapes give equal bytes. Parts are compared by identity, values by equality."""
    shape: list[tuple[Any, ...]] = []
    stack = [message]
    while stack:
        part = stack.pop()
        state = part.__dict__
        payload = state.get("_payload")
        if isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
            payload = tuple(payload)
        shape.append((
            part, tuple(state.get("_headers", ())), payload, state.get("preamble"),
            state.get("epilogue"), state.get("_unixfrom"), state.get("_charset"),
            state.get("_default_type"), state.get("policy"),
        ))
    return shape


for _name in _STATE:
    _descriptor = _ParsedOnRead()
    _descriptor.__set_name__(WireMessage, _name)
    setattr(WireMessage, _name, _descriptor)
