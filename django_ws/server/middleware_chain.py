"""Call the WSGI application and Django's middleware without C recursion.

A WebSocket view runs for the connection's whole life, inside every
middleware's ``__call__``, and its greenlet is saved while it waits: gevent
copies the greenlet's C stack to the heap at each switch. On CPython 3.11,
calling a Python function or bound method runs in the same C frame, but
calling an *instance* (``middleware(request)``) goes through its type's
``tp_call`` slot into a new C-level interpreter frame: about 0.8 KiB of C stack
per middleware, measured, held for as long as the connection is idle and
copied out and back on every message.

Django builds the chain with ``convert_exception_to_response(mw_instance)``,
whose wrapper calls the instance. Here the instance in each wrapper's closure
is replaced by its bound ``__call__``, which the interpreter calls in place.
It is the same call: ``instance(request)`` is
``type(instance).__call__(instance, request)``. Anything this does not
recognise is left as it is, so an unknown layout only loses the saving.
"""

from __future__ import annotations

from types import FunctionType, MethodType
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse

__all__ = ["shallow_application", "shallow_callable", "shorten_middleware_chain"]


def _sync_view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    return HttpResponse()


# The code of the sync wrapper Django puts around every middleware.
_WRAPPER_CODE = convert_exception_to_response(_sync_view).__code__


def _python_call(obj: Any) -> FunctionType | None:
    # An instance whose class defines __call__ in Python; not a function,
    # a class or a C callable, which gain nothing.
    if isinstance(obj, (FunctionType, MethodType, type)):
        return None
    # The function itself, not a test of callability.
    call = getattr(type(obj), "__call__", None)  # noqa: B004
    return call if isinstance(call, FunctionType) else None


def shallow_callable(obj: Any) -> Any:
    """``obj``, or its bound ``__call__`` when calling it costs a C frame."""
    call = _python_call(obj)
    return obj if call is None else MethodType(call, obj)


def shorten_middleware_chain(application: Any) -> int:
    """Rewrite the sync middleware chain of a Django handler in place.

    Args:
        application: a Django ``WSGIHandler``, or any other WSGI application
            (then nothing happens).

    Returns:
        How many middleware calls now run without a C frame.
    """
    chain = getattr(application, "_middleware_chain", None)
    rewritten = 0
    seen: set[int] = set()
    pending = [chain]
    while pending:
        obj = pending.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, FunctionType):
            cells = obj.__closure__ or ()
            if obj.__code__ is _WRAPPER_CODE and len(cells) == 1:
                target = cells[0].cell_contents
                call = _python_call(target)
                if call is not None:
                    cells[0].cell_contents = MethodType(call, target)
                    rewritten += 1
                pending.append(target)
            else:  # a function-based middleware: its closure holds the rest
                for cell in cells:
                    try:
                        pending.append(cell.cell_contents)
                    except ValueError:  # an empty cell
                        pass
        elif _python_call(obj) is not None and hasattr(obj, "__dict__"):
            # A middleware instance: the rest of the chain is one of its
            # attributes (``get_response`` by convention).
            for value in vars(obj).values():
                if isinstance(value, FunctionType) or _python_call(value) is not None:
                    pending.append(value)
    return rewritten


def shallow_application(application: Any) -> Any:
    """What a server should call: the chain rewritten, the application bound.

    Used by ``WebSocketServer`` and the gunicorn worker.
    """
    shorten_middleware_chain(application)
    return shallow_callable(application)
