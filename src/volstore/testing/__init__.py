"""Testing kit for volstore users (filled in by the Modal issue)."""
