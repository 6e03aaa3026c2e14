"""Members' privacy (F15): export one's data, have it deleted, and leaving the community.

* ``scope``: which rows of every table are one member's (and the test that no table is
  forgotten walks the schema against it);
* ``export``: ``/privacy export``, the JSON document, streamed a page at a time;
* ``deletion``: ``/privacy delete`` with its confirmation, ``/privacy cancel``, the grace
  period, leaving and coming back, and the housekeeping job that does the deletion;
* ``forget``: what the deletion removes, ends, replaces, anonymises and keeps.

``COMMANDS`` are this feature's catalog entries (assembled by ``core.commands``).
"""

from __future__ import annotations

from core.catalog import Access, Command, Option, OptionType
from core.usecases.privacy import deletion, export
from core.usecases.privacy.deletion import GRACE_MAX, GRACE_MIN

__all__ = ["COMMANDS", "deletion", "export"]

COMMANDS = (
    Command(
        "privacy",
        "export",
        "Everything Mentorbot stores about you here, as a JSON file (only you get it)",
        export.export_my_data,
        export.ExportMyData,
        read_only=True,
    ),
    Command(
        "privacy",
        "delete",
        "Have your data here deleted, after a grace period (asks you to confirm)",
        deletion.ask_delete,
        deletion.DeleteMyData,
    ),
    Command(
        "privacy",
        "cancel",
        "Keep your data: cancel a deletion that is still pending",
        deletion.cancel_command,
        deletion.CancelDeletion,
    ),
    Command(
        "privacy",
        "grace",
        "Days between a deletion request (or a member leaving) and the deletion",
        deletion.set_grace,
        deletion.SetGracePeriod,
        (
            Option(
                "days",
                OptionType.INTEGER,
                f"Days ({GRACE_MIN}-{GRACE_MAX}; default 7)",
                required=True,
                min_value=GRACE_MIN,
                max_value=GRACE_MAX,
            ),
        ),
        access=Access.ADMIN,
    ),
)
