"""A container's view of a volume: what it changed, and bringing in others' commits.

The view is a local folder holding a copy of the committed state as of the
container's last refresh, plus the container's own changes. ``View`` remembers what
it last synced of every entry (the snapshot: ``known``) and the sequence number of
the committed state it reflects (``seq``).

* ``diff`` finds the container's changes: for the candidate entries an inotify
  ``ChangeTracker`` reports (or, without one, for every entry of a full walk), an
  entry changed if its (inode, size, mtime, ctime) differs from the snapshot's, or,
  for racily clean files, if its content digest differs.
* ``refresh`` brings the view to the latest committed state: from the change log,
  only the paths other transactions touched since ``seq``; by comparing everything
  when the log no longer reaches back that far. Local changes the caller wants kept
  (``keep``) are left alone.

Both cost what changed, not what the view holds (except the full fallbacks).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Literal, NamedTuple

from ._committed import VolumeStore
from ._files import (
    Stat,
    copy_file,
    digest_file,
    is_racy,
    lstat,
    remove_entry,
    stat_of,
    walk,
)
from ._inotify import ChangeTracker
from ._types import ancestors, depth


class Known(NamedTuple):
    """What a container knows of one entry of its view (the snapshot)."""

    kind: Literal["f", "d"]
    local: tuple[int, int, int, int] | None  # (inode, size, mtime_ns, ctime_ns) of the copy
    source: tuple[int, int, int, int] | None  # committed file's (ino, size, mtime, ctime)
    digest: bytes | None  # content digest, kept only for racily clean files


_DIR = Known("d", None, None, None)


def stat_key(st: Stat) -> tuple[int, int, int, int]:
    return (st.ino, st.size, st.mtime_ns, st.ctime_ns)


class Changes(NamedTuple):
    """A container's changes, as view-relative paths."""

    puts: list[str]
    deletes: list[str]
    mkdirs: list[str]
    rmdirs: list[str]
    sizes: dict[str, int]  # bytes of each put, as examined

    @property
    def empty(self) -> bool:
        return not (self.puts or self.deletes or self.mkdirs or self.rmdirs)

    def paths(self) -> set[str]:
        return {*self.puts, *self.deletes, *self.mkdirs, *self.rmdirs}


class View:
    """The synced state of one container's view (see the module docstring).

    ``base`` is the folder the emulator writes (the mount path, or the data folder
    behind a read-only bind mount); ``prefix`` the volume folder it shows ("" for the
    whole volume, else the ``sub_path``). Not thread-safe: the mount serialises calls.
    """

    def __init__(self, base: str, prefix: str, count: Callable[[str, float], None]) -> None:
        self.base = base
        self.prefix = prefix
        self.known: dict[str, Known] = {}
        self.seq = -1
        self.tracker: ChangeTracker | None = None
        self._count = count

    # -- paths

    def to_volume(self, rel: str) -> str:
        if not self.prefix:
            return rel
        return f"{self.prefix}/{rel}" if rel else self.prefix

    def _to_view(self, vrel: str) -> str | None:
        """The view path of volume path ``vrel``; None outside the view; "" for the
        view's root (also when an ancestor of the root was touched)."""
        if not self.prefix:
            return vrel
        if vrel == self.prefix or self.prefix.startswith(vrel + "/") or not vrel:
            return ""
        if vrel.startswith(self.prefix + "/"):
            return vrel[len(self.prefix) + 1 :]
        return None

    def local_path(self, rel: str) -> str:
        return os.path.join(self.base, rel) if rel else self.base

    # -- change tracking

    def start_tracking(self) -> None:
        """Watch every folder of the view (after the first refresh filled it)."""
        self.tracker = ChangeTracker.open(self.base)
        if self.tracker is None:
            return
        for rel in ["", *(r for r, k in self.known.items() if k.kind == "d")]:
            self.tracker.watch(rel)

    def stop_tracking(self) -> None:
        if self.tracker is not None:
            self.tracker.close()
            self.tracker = None

    def candidates(self) -> set[str] | None:
        """Entries that may have changed since the last call; None: walk everything."""
        if self.tracker is None:
            return None
        found = self.tracker.take()
        if found is None:
            self.tracker.reset()
        return found

    def give_back(self, candidates: set[str] | None) -> None:
        """After a failed commit: its candidates are candidates of the next one."""
        if self.tracker is None:
            return
        if candidates is None:
            self.tracker.mark_lost()  # the next commit walks everything again
        else:
            self.tracker.give_back(candidates)

    # -- diff

    def diff(self, candidates: set[str] | None) -> Changes:
        """The container's changes among ``candidates`` (None: a full walk)."""
        if candidates is None:
            watch = self.tracker.watch if self.tracker is not None else None
            current = walk(self.base, on_directory=watch)
            items: Iterable[tuple[str, Stat | None]] = [
                (rel, current.get(rel)) for rel in current.keys() | self.known.keys()
            ]
            self._count("full_scans", 1)
            self._count("entries_examined", len(current.keys() | self.known.keys()))
        else:
            verified: set[str] = set()
            items = [
                (rel, lstat(self.local_path(rel)) if self._inside(rel, verified) else None)
                for rel in candidates
            ]
            self._count("entries_examined", len(candidates))
        changes = Changes([], [], [], [], {})
        for rel, info in items:
            known = self.known.get(rel)
            if info is not None and info.kind == "f":
                if known is None or known.kind != "f" or known.local != stat_key(info):
                    changes.puts.append(rel)
                    changes.sizes[rel] = info.size
                elif known.digest is not None:
                    try:
                        if digest_file(self.local_path(rel)) != known.digest:
                            changes.puts.append(rel)
                            changes.sizes[rel] = info.size
                    except FileNotFoundError:
                        pass  # deleted meanwhile; the next commit sees it
            elif info is not None and info.kind == "d" and (known is None or known.kind != "d"):
                changes.mkdirs.append(rel)
            # Symlinks, FIFOs and sockets are not published (guess: a data layer never
            # makes them; the emulator's committed state holds files and folders only).
            if known is not None and known.kind == "f" and (info is None or info.kind != "f"):
                changes.deletes.append(rel)
            elif known is not None and known.kind == "d" and (info is None or info.kind != "d"):
                changes.rmdirs.append(rel)
        return changes

    def record_published(
        self,
        changes: Changes,
        copied: dict[str, tuple[Stat, bytes | None]],
        put_stats: dict[str, os.stat_result],
    ) -> None:
        """Update the snapshot for what a commit published, so a later commit does not
        publish the same files again (which would revert other containers' newer
        commits of them)."""
        for rel in changes.deletes + changes.rmdirs:
            self.known.pop(rel, None)
        for rel in changes.mkdirs:
            self.known[rel] = _DIR
        for rel, (source, digest) in copied.items():
            committed = put_stats.get(self.to_volume(rel))
            self.known[rel] = Known(
                "f",
                stat_key(source),
                None if committed is None else stat_key(stat_of(committed)),
                digest,
            )

    # -- refresh

    def refresh(self, store: VolumeStore, keep: set[str]) -> int:
        """Bring the view to the committed state (caller holds the volume lock shared);
        local changes at ``keep`` stay as they are. Return the bytes fetched."""
        head = store.head()
        touched = store.touched_since(self.seq, head) if self.seq >= 0 else None
        paths: set[str] | None = None
        if touched is not None:
            paths = set()
            for vrel in touched:
                rel = self._to_view(vrel)
                if rel == "":
                    paths = None  # the view's own folder changed: compare everything
                    break
                if rel is not None:
                    paths.add(rel)
        if paths is None:
            if self.seq >= 0:  # not the first fill of the view
                self._count("full_scans", 1)
            fetched = self._refresh_all(store, keep)
        else:
            fetched = self._refresh_paths(store, paths, keep)
        self.seq = head.seq
        return fetched

    def _inside(self, rel: str, verified: set[str]) -> bool:
        """Whether every folder above ``rel`` in the view is a real folder: a path
        through a symlink user code put there is not in the view (and must never lead
        the emulator to read or remove files outside it)."""
        for folder in ancestors(rel):
            if folder in verified:
                continue
            found = lstat(self.local_path(folder))
            if found is None or found.kind != "d":
                return False
            verified.add(folder)
        return True

    def _kept(self, rel: str, keep: set[str]) -> bool:
        """Whether ``rel`` is, is under, or holds a local change to keep."""
        if not keep:
            return False
        if rel in keep or any(a in keep for a in ancestors(rel)):
            return True
        prefix = rel + "/"
        return any(k.startswith(prefix) for k in keep)

    def _forget(self, rel: str, *, below: bool) -> None:
        self.known.pop(rel, None)
        if below:
            prefix = rel + "/"
            for child in [r for r in self.known if r.startswith(prefix)]:
                del self.known[child]

    def _fetch(self, store: VolumeStore, rel: str, want: Stat, now_ns: int) -> int:
        """Copy committed file ``rel`` into the view (atomically); return its size."""
        local = self.local_path(rel)
        tmp = os.path.join(os.path.dirname(local), f".volstore-fetch-{uuid.uuid4().hex}")
        racy = is_racy(want.mtime_ns, now_ns)
        try:
            copy_file(store.path_of(self.to_volume(rel)), tmp)
            os.replace(tmp, local)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        copy = stat_of(os.stat(local, follow_symlinks=False))
        self.known[rel] = Known(
            "f", stat_key(copy), stat_key(want), digest_file(local) if racy else None
        )
        return copy.size

    def _unchanged(self, rel: str, want: Stat, have: Stat | None) -> bool:
        previous = self.known.get(rel)
        return (
            previous is not None
            and previous.kind == "f"
            and previous.source == stat_key(want)
            and have is not None
            and have.kind == "f"
            and previous.local == stat_key(have)
            and (previous.digest is None or previous.digest == digest_file(self.local_path(rel)))
        )

    def _ensure_local_dir(self, rel: str) -> None:
        for component in [*ancestors(rel), rel] if rel else []:
            path = self.local_path(component)
            have = lstat(path)
            if have is not None and have.kind == "d":
                self.known.setdefault(component, _DIR)
                continue
            if have is not None:
                remove_entry(path)
                self._forget(component, below=False)
            os.mkdir(path)
            self.known[component] = _DIR

    def _refresh_paths(self, store: VolumeStore, paths: set[str], keep: set[str]) -> int:
        fetched = fetched_bytes = 0
        now_ns = time.time_ns()
        for rel in sorted(paths, key=lambda r: (depth(r), r)):
            if self._kept(rel, keep):
                continue
            want = lstat(store.path_of(self.to_volume(rel)))
            local = self.local_path(rel)
            if want is None or want.kind == "o":
                if self._inside(rel, set()) and lstat(local) is not None:
                    remove_entry(local)
                self._forget(rel, below=True)
                continue
            self._ensure_local_dir(rel.rpartition("/")[0])  # real folders from here on
            have = lstat(local)
            if want.kind == "d":
                if have is None or have.kind != "d":
                    if have is not None:
                        remove_entry(local)
                    os.mkdir(local)
                    self._forget(rel, below=True)
                self.known[rel] = _DIR
                continue
            if self._unchanged(rel, want, have):
                continue
            if have is not None and have.kind == "d":
                remove_entry(local)
                self._forget(rel, below=True)
            fetched_bytes += self._fetch(store, rel, want, now_ns)
            fetched += 1
        self._count("files_fetched", fetched)
        self._count("bytes_fetched", fetched_bytes)
        return fetched_bytes

    def _refresh_all(self, store: VolumeStore, keep: set[str]) -> int:
        """Compare everything: the first fill of a view, or a view the log cannot
        bring up to date."""
        root = store.path_of(self.prefix)
        committed = walk(root) if os.path.isdir(root) else {}
        current = walk(self.base)
        # Remove what the committed state lacks (or holds with another type).
        removed_dirs: set[str] = set()
        for rel in sorted(current, key=lambda r: (depth(r), r)):
            if any(a in removed_dirs for a in ancestors(rel)) or self._kept(rel, keep):
                continue  # went with its folder, or a local change to keep
            info = current[rel]
            want = committed.get(rel)
            if want is None or want.kind != info.kind or info.kind == "o":
                remove_entry(self.local_path(rel))
                if info.kind == "d":
                    removed_dirs.add(rel)
        previous = self.known
        self.known = {rel: k for rel, k in previous.items() if self._kept(rel, keep)}
        fetched = fetched_bytes = 0
        now_ns = time.time_ns()
        for rel in sorted(committed, key=lambda r: (depth(r), r)):
            if self._kept(rel, keep):
                continue
            want = committed[rel]
            if want.kind == "d":
                with contextlib.suppress(FileExistsError):
                    os.mkdir(self.local_path(rel))
                self.known[rel] = _DIR
                continue
            if want.kind != "f":
                continue
            have = current.get(rel)
            old = previous.get(rel)
            if old is not None:
                self.known[rel] = old
            if have is not None and have.kind == "f" and self._unchanged(rel, want, have):
                continue
            fetched_bytes += self._fetch(store, rel, want, now_ns)
            fetched += 1
        self._count("files_fetched", fetched)
        self._count("bytes_fetched", fetched_bytes)
        return fetched_bytes
