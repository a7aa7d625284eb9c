"""Griffe extension: document the keywords ``smime.api.keywords.spelled_out`` writes into a
function's signature, one by one, instead of the ``**options: Unpack[...]`` of its source.

Griffe reads the source; the spelled-out signature exists only at run time, so for a
function that carries one (``__signature__`` in its ``__dict__``) the parameters are taken
from the imported function, and its typing overloads (which repeat ``**options``) are left
out: its docstring says what ``format=`` returns.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import griffe


def _runtime(func: griffe.Function) -> Any:
    module_path = func.module.path
    try:
        obj: Any = importlib.import_module(module_path)
        for part in func.path[len(module_path) + 1 :].split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj


def _text(value: Any) -> str:
    return value if isinstance(value, str) else inspect.formatannotation(value)


class SpelledOutKeywords(griffe.Extension):
    def on_function_instance(self, *, func: griffe.Function, **kwargs: Any) -> None:
        signature = getattr(_runtime(func), "__dict__", {}).get("__signature__")
        if signature is None:
            return
        func.parameters = griffe.Parameters(*(
            griffe.Parameter(
                p.name,
                annotation=None if p.annotation is p.empty else _text(p.annotation),
                kind=griffe.ParameterKind(p.kind.description),
                default=None if p.default is p.empty else repr(p.default),
            )
            for p in signature.parameters.values()
        ))
        func.overloads = None
