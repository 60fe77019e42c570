"""The example domain: schedules, results, profiles, user files, events.

Tests, the demo and the benchmarks use these models. ``Profile`` is an attrs
class, to show that both declaration styles share one layout.
"""

from .events import Event
from .files import UserFile
from .profiles import NotificationSettings, Profile
from .results import Result
from .schedules import Schedule

ALL_MODELS: tuple[type, ...] = (Schedule, Result, Profile, UserFile, Event)

__all__ = [
    "ALL_MODELS",
    "Event",
    "NotificationSettings",
    "Profile",
    "Result",
    "Schedule",
    "UserFile",
]
