"""The example domain: schedules, results, profiles, user files, events, notes.

Tests, the demo and the benchmarks use these models. ``Profile`` is an attrs
class, to show that both declaration styles share one layout.
"""

from .events import Event
from .files import UserFile
from .notes import Note
from .profiles import NotificationSettings, Profile
from .results import Result
from .schedules import Schedule

ALL_MODELS: tuple[type, ...] = (Schedule, Result, Profile, UserFile, Event, Note)

__all__ = [
    "ALL_MODELS",
    "Event",
    "Note",
    "NotificationSettings",
    "Profile",
    "Result",
    "Schedule",
    "UserFile",
]
