"""The errors volstore raises.

Every error derives from ``VolstoreError``; each also subclasses the
builtin it resembles, so callers may catch either:

```text
VolstoreError
├── ModelDefinitionError (TypeError)       a model declaration is wrong
│   └── DuplicateResourceTypeError         two models claim one resource type
├── InvalidKeyError (ValueError)           an id, user id or path is not allowed
├── ObjectNotFoundError (KeyError)         get_one() found nothing at the key
├── SerializationError (ValueError)        an object cannot be encoded
│   └── ObjectTooLargeError                its encoding exceeds the store's limit
├── CorruptObjectError (ValueError)        a stored file does not parse or validate
│   └── SchemaVersionError                 written by newer code (a future schema version)
├── SessionError (RuntimeError)            a session used after close, or misused
├── ConflictError (RuntimeError)           a conditional write found another stored state
│   └── StaleObjectError (SessionError)    a versioned object changed since it was loaded
├── LayoutMismatchError (ValueError)       the store was written with another user-hash layout
├── TenantIsolationError (PermissionError) a user-bound repository given another user's object
└── BackendError (OSError)                 the storage below failed
    ├── CommitError                        commit() of the volume failed
    └── ReloadError                        reload() of the volume failed
```

Errors of the layer below are translated at the boundary with
``raise ... from exc``, so the original stays available as ``__cause__``.
"""

from __future__ import annotations


class VolstoreError(Exception):
    """Base class of every error volstore raises."""


class ModelDefinitionError(VolstoreError, TypeError):
    """A model declaration is invalid (bad resource type, missing id field, ...)."""


class DuplicateResourceTypeError(ModelDefinitionError):
    """Two different models declare the same resource type in one store."""


class InvalidKeyError(VolstoreError, ValueError):
    """An id, user id or storage path is not allowed.

    Raised before anything is written; nothing outside the store root is ever touched.
    """


class ObjectNotFoundError(VolstoreError, KeyError):
    """No object is stored under the key (raised by ``get_one`` and friends)."""

    def __init__(self, resource_type: str, user_id: str, object_id: str) -> None:
        super().__init__(resource_type, user_id, object_id)
        self.resource_type = resource_type
        self.user_id = user_id
        self.object_id = object_id

    def __str__(self) -> str:
        return (
            f"no {self.resource_type} object with id {self.object_id!r} for user {self.user_id!r}"
        )


class SerializationError(VolstoreError, ValueError):
    """An object cannot be encoded for storage."""


class ObjectTooLargeError(SerializationError):
    """An object's encoding is larger than the store's ``max_object_bytes``."""


class CorruptObjectError(VolstoreError, ValueError):
    """A stored file does not parse, does not validate, or holds another object.

    ``path`` names the file (relative to the store root); ``reason`` says what
    was wrong with it.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SchemaVersionError(CorruptObjectError):
    """A stored object has a schema version newer than the model: it was written by newer code.

    volstore never downgrades such an object silently. Raised with ``path`` "?"
    by the model layer; the store re-raises it naming the file.
    """

    def __init__(self, found: int, known: int, path: str = "?") -> None:
        super().__init__(
            path,
            f"written with schema version {found}, newer than this code's {known}: "
            "upgrade the code before reading it",
        )
        self.found = found
        self.known = known


class SessionError(VolstoreError, RuntimeError):
    """A session was used after it closed, or in a way it does not support."""


class ConflictError(VolstoreError, RuntimeError):
    """A conditional write or delete found the stored state changed; nothing of it was applied.

    Raised by a backend's ``apply_conditional``: ``path`` names the file,
    ``expected`` the state token the caller read (None: it expected no file),
    ``found`` the token stored now (None: no file). Tokens are opaque strings.
    """

    def __init__(self, path: str, expected: str | None, found: str | None) -> None:
        super().__init__(
            f"conflict at {path}: expected "
            f"{'no file' if expected is None else 'state ' + expected}, found "
            f"{'no file' if found is None else 'state ' + found}"
        )
        self.path = path
        self.expected_token = expected
        self.found_token = found


class StaleObjectError(ConflictError, SessionError):
    """A versioned object was changed by someone else since this session loaded it.

    Raised at flush; nothing of that object is written (the check and the
    write are one atomic step per object). ``expected`` is the version the
    session loaded (0: the session meant to create it); ``found`` the version
    stored now (0: no object is stored). Re-read the object and retry, or use
    ``Repository.update``, which does.
    """

    def __init__(self, path: str, expected: int, found: int, detail: str | None = None) -> None:
        if detail is not None and expected == found:
            what = f"version {found} is stored, but {detail}"
        elif expected == 0:
            what = f"expected to create it, but version {found} is stored"
        elif found == 0:
            what = f"expected version {expected}, but it was deleted"
        elif expected == found:
            what = f"version {found} is stored, but it was rewritten since it was read"
        else:
            what = f"expected version {expected}, found version {found}"
        RuntimeError.__init__(self, f"stale object at {path}: {what}")
        self.path = path
        self.expected = expected
        self.found = found
        self.expected_token = None
        self.found_token = None


class LayoutMismatchError(VolstoreError, ValueError):
    """The store was written with another user-hash layout (plain, keyed, other key or length).

    Opening it this way would silently put users' objects in new folders, so
    volstore refuses.
    """


class TenantIsolationError(VolstoreError, PermissionError):
    """A repository bound to one user was given an object owned by another user."""


class BackendError(VolstoreError, OSError):
    """The storage backend failed; ``__cause__`` holds the original error.

    When a flush failed half way (its files written, its deletes not),
    ``applied`` lists the paths written and ``unapplied`` those not deleted;
    both are empty when nothing was applied.
    """

    applied: tuple[str, ...] = ()
    unapplied: tuple[str, ...] = ()


class CommitError(BackendError):
    """Committing the volume failed."""


class ReloadError(BackendError):
    """Reloading the volume failed (on Modal: usually a file still open)."""


def install_hint(extra: str, package: str | None = None) -> str:
    """How to install what an optional part of volstore needs (the one wording of it).

    volstore is not on PyPI yet, so its extras install from a clone of the
    repository; ``package`` names a package that also does on its own.
    """
    alone = (
        f"pip install {package}, or install volstore with its {extra} extra"
        if package
        else (f"install volstore with its {extra} extra")
    )
    return (
        f"{alone} (from a clone of the repository, as volstore is not on PyPI yet: "
        f"pip install '/path/to/volstore[{extra}]')"
    )


_MAX_REASON = 300
_MAX_FIELDS = 3


def short_reason(exc: BaseException, limit: int = _MAX_REASON) -> str:
    """Why ``exc`` happened, on one line of at most ``limit`` characters.

    The one home of that wording. A pydantic ValidationError is told field by
    field (``field.sub: message``; for a wrong type, the type found:
    ``name: Input should be a valid string, not int``), the first three and
    how many more, without the input it was given, pydantic's schema names or
    documentation links: a corrupt file of a gigabyte gives a short message,
    not a copy of itself.
    """
    errors = getattr(exc, "errors", None)
    text = None
    if callable(errors) and type(exc).__name__ == "ValidationError":
        try:
            items = errors(include_url=False, include_context=False)
        except TypeError:  # another library's ValidationError
            items = None
        if items is not None:
            parts = [_problem(item) for item in items[:_MAX_FIELDS]]
            text = "; ".join(parts)
            if len(items) > _MAX_FIELDS:
                text += f" (and {len(items) - _MAX_FIELDS} more)"
    if text is None:
        text = str(exc)[: limit * 2]
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 4].rstrip() + " ..."


def _problem(item: dict[str, object]) -> str:
    location = ".".join(_field_names(item.get("loc", ())))
    message = str(item.get("msg", ""))
    if str(item.get("type", "")).endswith("_type") and "input" in item:
        # "Input should be a valid X": say what was found (its type only, never its value).
        found = type(item["input"]).__name__
        message += f", not {'None' if found == 'NoneType' else found}"
    return f"{location}: {message}" if location else message


def _field_names(location: object) -> list[str]:
    # pydantic puts schema tags in locations for some schemas (attrs classes go
    # through ``json-or-python[...]``, ``function-after[...]``): keep field names.
    names = []
    for part in location if isinstance(location, (tuple, list)) else ():
        text = str(part)
        if "[" in text or "(" in text:
            continue
        names.append(text)
    return names
