"""Which door a request path is for; the handlers and the authorizer ask the same question."""

from __future__ import annotations


def under(path: object, prefix: str) -> bool:
    """Whether a resource path (without the stage) is `prefix` or below it; every path is under ""."""
    if not prefix:
        return True
    return isinstance(path, str) and (path == prefix or path.startswith(prefix + "/"))
