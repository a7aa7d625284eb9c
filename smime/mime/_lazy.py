"""An EmailMessage that is its wire bytes until someone looks inside.

The builders produce exact bytes; parsing them back into an ``EmailMessage`` costs more
than the cryptography for small messages, and several copies for large ones. A
``WireMessage`` keeps the bytes, answers ``as_bytes()`` with them unchanged, and parses
itself (once) on the first read of any header, part or payload.
"""

from __future__ import annotations

from email.message import EmailMessage
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

    def _materialize(self) -> None:
        if self.parsed:
            return
        from .message import parse_bytes  # parse_bytes bounds depth and maps errors

        message = parse_bytes(self.__dict__["_wire"], require_headers=False)
        for name in _STATE:
            self.__dict__[name] = message.__dict__[name]

    def as_bytes(self, unixfrom: bool = False, policy: Policy | None = None) -> bytes:
        if not self.parsed and not unixfrom and (policy is None or policy.linesep == "\r\n"):
            return bytes(self.__dict__["_wire"])
        return super().as_bytes(unixfrom=unixfrom, policy=policy)

    def __bytes__(self) -> bytes:
        return self.as_bytes()


for _name in _STATE:
    _descriptor = _ParsedOnRead()
    _descriptor.__set_name__(WireMessage, _name)
    setattr(WireMessage, _name, _descriptor)
