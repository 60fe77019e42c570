"""What the store check reports: findings, by kind, and the report that counts them.

The walk that finds them is ``_check``; this module is its vocabulary, shared
by the library, the CLI and tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FindingKind = Literal["corrupt", "temporary", "mismatch", "duplicate", "unknown", "index"]
KINDS: tuple[FindingKind, ...] = ("corrupt", "temporary", "mismatch", "duplicate", "unknown")
DEFAULT_QUARANTINE = ".volstore-quarantine"
DEFAULT_MAX_FINDINGS = 10_000
DEFAULT_TEMPORARY_MIN_AGE = 600.0
"""Seconds before repair removes a temporary file whose writer it cannot see (another
machine or container): a live writer renames its files within a batch's time."""


@dataclass(frozen=True)
class Finding:
    """One thing the check found: its kind, the path (relative to the root), why.

    ``action`` says what repair did with it (``"removed"``, ``"moved to ..."``,
    ``"left in place: ..."``), or is None when the check did not repair.
    """

    kind: FindingKind
    path: str
    reason: str
    action: str | None = None

    def __str__(self) -> str:
        done = f" [{self.action}]" if self.action else ""
        return f"{self.kind}: {self.path}: {self.reason}{done}"


@dataclass
class CheckReport:
    """What ``check_store`` found.

    Each list keeps the first ``max_findings`` findings of its kind; ``totals``
    counts every finding by kind. ``files_checked`` counts every file visited,
    ``objects_checked`` the object files read and validated. ``temporary_files_visible``
    is False for backends whose writes never leave temporary files (memory).
    ``removed`` and ``quarantined`` count what repair did. ``totals`` has an
    ``index`` count (and ``index`` its findings) when a registered model
    declares indexes.
    """

    corrupt: list[Finding] = field(default_factory=list)
    temporary: list[Finding] = field(default_factory=list)
    mismatched: list[Finding] = field(default_factory=list)
    duplicates: list[Finding] = field(default_factory=list)
    unknown: list[Finding] = field(default_factory=list)
    index: list[Finding] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    files_checked: int = 0
    objects_checked: int = 0
    temporary_files_visible: bool = True
    repaired: bool = False
    removed: int = 0
    quarantined: int = 0
    max_findings: int = DEFAULT_MAX_FINDINGS

    @property
    def ok(self) -> bool:
        """True when nothing at all was found."""
        return not any(self.totals.values())

    @property
    def truncated(self) -> bool:
        """True when some findings were counted but not kept (more than ``max_findings``)."""
        return any(self.totals[kind] > len(self._list(kind)) for kind in self.totals)

    def findings(self) -> list[Finding]:
        """Every kept finding, kind by kind."""
        return [
            *self.corrupt,
            *self.temporary,
            *self.mismatched,
            *self.duplicates,
            *self.unknown,
            *self.index,
        ]

    def add(self, finding: Finding) -> None:
        self.totals[finding.kind] = self.totals.get(finding.kind, 0) + 1
        kept = self._list(finding.kind)
        if len(kept) < self.max_findings:
            kept.append(finding)
        if finding.action == "removed":
            self.removed += 1
        elif finding.action is not None and finding.action.startswith("moved to "):
            self.quarantined += 1

    def _list(self, kind: str) -> list[Finding]:
        return {
            "corrupt": self.corrupt,
            "temporary": self.temporary,
            "mismatch": self.mismatched,
            "duplicate": self.duplicates,
            "unknown": self.unknown,
            "index": self.index,
        }[kind]

    def summary(self) -> str:
        """One line: how much was checked and found."""
        found = ", ".join(f"{count} {kind}" for kind, count in self.totals.items())
        repaired = f"; removed {self.removed}, quarantined {self.quarantined}"
        return f"checked {self.files_checked} files ({self.objects_checked} objects): {found}" + (
            repaired if self.repaired else ""
        )


__all__ = [
    "DEFAULT_MAX_FINDINGS",
    "DEFAULT_QUARANTINE",
    "DEFAULT_TEMPORARY_MIN_AGE",
    "KINDS",
    "CheckReport",
    "Finding",
    "FindingKind",
]
