"""What a pyhanko-certvalidator run found, in plain values (importing pyhanko is slow)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PyhankoOutcome"]


@dataclass(frozen=True)
class PyhankoOutcome:
    """What pyhanko found. Paths are DER certificates, signer first, anchor last."""

    path: tuple[bytes, ...] | None  # the validated path, or None
    tried_path: tuple[bytes, ...] | None  # on a path validation error: the path it rejected
    error: Exception | None
    fetched_crls: tuple[bytes, ...] = ()
    fetched_ocsps: tuple[bytes, ...] = ()
    fetch_failures: tuple[str, ...] = ()
    calls: int = 1
