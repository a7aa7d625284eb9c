"""The old ``smime`` distribution on PyPI (balena/python-smime, 2017-2019) installs a
top-level ``smime`` package too: installed into the same environment, pip writes both into
one ``smime/`` folder, and whichever came last owns ``smime/__init__.py``. When it is this
one, the old distribution's modules are left beside it; they are looked for here (a stat
each, so ``import smime`` stays fast) to say so, instead of letting code written for the
old ``smime.encrypt(text, pem)`` run against this API."""

from __future__ import annotations

import os
import warnings

from .errors import SMIMEWarning

#: Modules only the old distribution has (this package never uses these names).
OLD_PACKAGE_MODULES = ("encrypt.py", "print_util.py", "rfc5652.py", "rfc5751.py")

OLD_PACKAGE_FOUND = (
    "the old 'smime' distribution from PyPI is installed in the same folder as smime-sdk "
    "({folder}: {found}); both install a top-level 'smime' package, so neither is intact. "
    "Remove both and reinstall this one: pip uninstall smime smime-sdk && pip install "
    "smime-sdk (code written for the old smime.encrypt(text, pem) must be ported, see "
    "'Coming from the old smime package' in the documentation)"
)


def old_package_modules(folder: str) -> list[str]:
    """The old distribution's modules found in ``folder`` (this package's folder)."""
    return [name for name in OLD_PACKAGE_MODULES if os.path.exists(os.path.join(folder, name))]


def warn_if_old_package(folder: str) -> None:
    """An SMIMEWarning at import when the old distribution shares this package's folder."""
    found = old_package_modules(folder)
    if found:
        warnings.warn(
            OLD_PACKAGE_FOUND.format(folder=folder, found=", ".join(found)),
            SMIMEWarning,
            stacklevel=3,
        )
