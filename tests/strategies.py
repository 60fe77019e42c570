"""The one home of the Hypothesis strategies used by the core tests."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from models import NotificationSettings, Profile, Result, Schedule

# Ids from a small alphabet collide often, which is what stateful tests need.
small_ids = st.sampled_from(["a", "b", "c", "d", "e", "f-1", "g_2", "h.3", "Z", "ü"])
small_users = st.sampled_from(["ada", "grace", "linus@example.com", "ü-user"])

valid_ids = st.text(
    alphabet=st.characters(
        codec="utf-8",
        exclude_categories=("Cc", "Cs"),
        exclude_characters="/\\",
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: not s.startswith(".") and unicodedata.is_normalized("NFC", s))

aware_datetimes = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    ),
)

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def schedules(draw: st.DrawFn, user_id: st.SearchStrategy[str] = small_users) -> Schedule:
    return Schedule(
        id=draw(small_ids),
        user_id=draw(user_id),
        name=draw(st.text(max_size=30)),
        cron=draw(st.sampled_from(["* * * * *", "0 9 * * 1-5", "*/5 * * * *"])),
        enabled=draw(st.booleans()),
        payload=draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4)),
        tags=draw(st.lists(st.text(max_size=10), max_size=4)),
        created_at=draw(aware_datetimes),
    )


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    quiet = draw(st.none() | st.tuples(st.integers(0, 23), st.integers(0, 23)))
    return Profile(
        id=draw(valid_ids),
        user_id=draw(small_users),
        display_name=draw(st.text(max_size=30)),
        created_at=draw(aware_datetimes),
        email=draw(st.none() | st.emails()),
        languages=draw(st.lists(st.sampled_from(["en", "fr", "de", "ja"]), max_size=3)),
        notifications=NotificationSettings(
            email=draw(st.booleans()), push=draw(st.booleans()), quiet_hours=quiet
        ),
    )


@st.composite
def results(draw: st.DrawFn) -> Result:
    started = draw(aware_datetimes)
    finished = draw(st.none() | st.just(started + timedelta(seconds=draw(st.integers(0, 10**6)))))
    return Result(
        id=draw(valid_ids),
        user_id=draw(small_users),
        schedule_id=draw(valid_ids),
        status=draw(st.sampled_from(["ok", "error", "timeout"])),
        started_at=started,
        finished_at=finished,
        output=draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)),
        error=draw(st.none() | st.text(max_size=40)),
    )
