"""Generated ids that sort by creation time (ULID-shaped).

An id is 26 characters of Crockford base32: 48 bits of milliseconds since the
epoch, then 80 bits that are random for the first id of a millisecond and
incremented for the next ones, so ids made by one process sort in the order
they were made, and ids made anywhere sort by time to the millisecond.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_ms = -1
_last_rand = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id() -> str:
    """Return a new unique id that sorts after every id this process made before."""
    global _last_ms, _last_rand
    with _lock:
        now = time.time_ns() // 1_000_000
        if now <= _last_ms:
            now = _last_ms
            _last_rand += 1
            if _last_rand >= 1 << 80:  # 2**80 ids in one millisecond: borrow the next one
                now += 1
                _last_rand = int.from_bytes(os.urandom(10), "big") >> 1
        else:
            # Keep the top bit clear so increments in this millisecond never overflow.
            _last_rand = int.from_bytes(os.urandom(10), "big") >> 1
        _last_ms = now
        return _encode(now, 10) + _encode(_last_rand, 16)
