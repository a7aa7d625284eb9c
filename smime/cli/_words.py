"""The library's sentences in the command line's terms: each option a sentence names as
the way out (:class:`smime.errors.Option`, spelled as the API takes it) said as the flag
that does the same, so one sentence serves both (``starttls=False`` / ``--no-starttls``)."""

from __future__ import annotations

from smime.errors import Option, SMIMEError

__all__ = ["FLAGS", "error_text", "flag"]

#: Each option the library names, as the command line says it.
FLAGS = {
    "starttls=False": "--no-starttls",
    "starttls=True": "--starttls",
    "ssl=False": "no --ssl",
    "ssl=True": "--ssl",
    "username=...": "--user",
    "sender=...": "--from ADDR",
    "recipients=[...]": "--to ADDR",
    "recipients=...": "--to",
    "base_url=...": "--sparkpost-url",
    "eu=True": "--eu",
    "fetch=True": "--fetch",
    "format='der'": "--out-form der",
    "TrustStore.from_pem(...)": "--trust FILE",
    "require_authenticated=True": "--require-authenticated",
    "certificates=[...] or store=...": "--certfile FILE",
    "VerificationPolicy(allow_weak_algorithms=True)": "--allow-weak-algorithms",
    "emails=[...]": "the addresses through the Python API (CertificateStore.add(..., "
                    "emails=[...]))",
}


#: The caps of ``smime.Limits`` have no flags: the command line keeps the defaults.
LIMITS = "limits=smime.Limits("


def flag(option: Option) -> str:
    """The flag for ``option`` (as the API spells it when the command line has none)."""
    if option.startswith(LIMITS):
        return f"smime.Limits({option.removeprefix(LIMITS)} through the Python API"
    return FLAGS.get(option, option)


def error_text(error: BaseException) -> str:
    """An error's message in the command line's terms."""
    return error.worded(flag) if isinstance(error, SMIMEError) else str(error)
