"""The volstore demo: a local folder, nothing to configure.

    python3 run.py demo            # writes into ./demo-data (cleared first)
    python3 run.py demo --root DIR

It writes schedules, profiles and notes for several users in one session
(one commit), reads them back, lists and pages, deletes, and prints the
folder tree and the counters. Afterwards the command line sees the same
data through the same models:

    volstore --root demo-data ls
    volstore --root demo-data check
"""

from __future__ import annotations

import argparse
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

# The project's models live in the `models` package, which pyproject.toml names
# in [tool.volstore] models: so the CLI (`volstore --root demo-data check`)
# knows every file the demo writes.
import volstore
from models import Note, NotificationSettings, Profile, Schedule


def tree(root: Path) -> list[str]:
    lines = [f"{root}/"]

    def walk(folder: Path, indent: str) -> None:
        children = sorted(folder.iterdir())
        for i, child in enumerate(children):
            last = i == len(children) - 1
            lines.append(
                f"{indent}{'└── ' if last else '├── '}{child.name}{'/' if child.is_dir() else ''}"
            )
            if child.is_dir():
                walk(child, indent + ("    " if last else "│   "))

    walk(root, "")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="demo-data", help="folder to write into (cleared first)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    shutil.rmtree(root, ignore_errors=True)

    store = volstore.Store(root)
    users = ["ada@example.com", "grace@example.com", "linus@example.com"]
    start = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)

    print("1. One session writes for three users, and commits once on exit.")
    with store.session() as session:
        for n, user in enumerate(users):
            session.add(
                Profile(
                    id="main",
                    user_id=user,
                    display_name=user.split("@")[0].title(),
                    created_at=start,
                    languages=["en"],
                    notifications=NotificationSettings(quiet_hours=(22, 7)),
                )
            )
            for day in range(5):
                session.add(
                    Schedule(
                        id=f"daily-{day:02d}",
                        user_id=user,
                        name=f"report {day}",
                        cron=f"0 {9 + day} * * *",
                        created_at=start + timedelta(days=day),
                    )
                )
            session.add(Note(user_id=user, text=f"{n + 1} of {len(users)}"))
    print(f"   wrote {store.stats.writes} files with {store.stats.commits} commit")

    schedules = store.repository(Schedule)
    profiles = store.repository(Profile)

    print("2. Typed reads.")
    ada = profiles.get_one("ada@example.com", "main")
    print(f"   {ada.display_name}: quiet hours {ada.notifications.quiet_hours}")
    print(f"   missing object -> {schedules.get('ada@example.com', 'nope')}")

    print("3. Listing reads only one user's folder; paging with a cursor.")
    page = schedules.list("grace@example.com", limit=2)
    while page:
        print(f"   page: {[s.id for s in page]}")
        page = schedules.list("grace@example.com", after=page[-1], limit=2)
    print(f"   glob 'daily-0[34]': {schedules.ids('linus@example.com', pattern='daily-0[34]')}")

    print(
        "4. Changing a loaded object in place is found at commit; unchanged ones are not rewritten."
    )
    before = store.stats.writes
    with store.session() as session:
        first = session.get_one(Schedule, "ada@example.com", "daily-00")
        first.tags.append("important")
        session.get_one(Schedule, "ada@example.com", "daily-01")  # read, not changed
    print(f"   {store.stats.writes - before} file written")

    print("5. A session that raises writes nothing.")
    try:
        with store.session() as session:
            session.delete(Schedule, "ada@example.com", "daily-02")
            raise RuntimeError("something went wrong mid-request")
    except RuntimeError:
        pass
    print(f"   daily-02 still there: {schedules.exists('ada@example.com', 'daily-02')}")

    print("6. Deletes.")
    print(f"   delete one: {schedules.delete('linus@example.com', 'daily-04')}")
    print(f"   delete all of grace's schedules: {schedules.delete_all('grace@example.com')}")

    print("7. Bad keys are refused before anything is written.")
    try:
        schedules.put(
            Schedule(id="../escape", user_id="ada@example.com", name="x", cron="* * * * *")
        )
    except volstore.InvalidKeyError as exc:
        print(f"   InvalidKeyError: {exc}")

    print("\nThe folder tree:")
    print("\n".join("   " + line for line in tree(root)))
    s = store.stats
    print(
        f"\nCounters: {s.commits} commits, {s.writes} writes, {s.deletes} deletes, {s.reads} reads"
    )


if __name__ == "__main__":
    main()
