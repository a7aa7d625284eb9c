"""The floor under the layers: small modules, each defining one shared idea once.

Every layer above (``cms``, ``validation``, ``store``, ``mime``, ``transports``, ...) asks
these questions the same way by importing the answer from here, so that two copies of a
rule cannot drift apart. Modules here import only ``smime.errors``, ``smime.options``,
``smime.algorithms`` and third-party libraries (import-linter checks it), so that
``smime.keys`` may use them too.
"""
