"""Sessions (F7): scheduled sessions that become reminders, calendar files and a feed.

* ``rules``: reading dates ("tomorrow 18:30"), links, durations, reminder times;
* ``store``: a member's sessions (through ``session_attendees``) and the one meant;
* ``notices``: the session card, announcements with an .ics, queued reminders;
* ``manage``: schedule, reschedule, cancel, complete, no-show;
* ``workshops``: RSVPs and the platform event;  ``planning``: free times, check-ins;
* ``agenda``: the agenda, one's reminder times, the calendar feed;  ``ics``: the files.

``COMMANDS`` are this feature's catalog entries (assembled by ``core.commands``).
"""

from __future__ import annotations

from core.catalog import Autocomplete, Command, Option, OptionType
from core.usecases.sessions import agenda, manage, planning, rules, workshops

__all__ = ["COMMANDS", "agenda", "manage", "planning", "workshops"]

_SESSION = Option(
    "session",
    OptionType.STRING,
    "The session's id (shown on its card and in the agenda)",
    required=True,
    max_length=24,
)
_WHEN = Option(
    "when",
    OptionType.STRING,
    'Date and time in your timezone: 2026-12-03 18:30, "tomorrow 18:30", "next tue 9am"',
    required=True,
    max_length=60,
    autocomplete=Autocomplete.FREE_SLOTS,
)
_DURATION = Option(
    "duration",
    OptionType.INTEGER,
    f"Minutes ({rules.DURATION_MIN}–{rules.DURATION_MAX}, default {rules.DURATION_DEFAULT})",
    min_value=rules.DURATION_MIN,
    max_value=rules.DURATION_MAX,
)
_PERSON = Option("person", OptionType.USER, "Your mentor or mentee", required=True)

COMMANDS = (
    Command(
        "session",
        "schedule",
        "Schedule a session with your mentor or mentee (or host a workshop)",
        manage.schedule,
        manage.ScheduleSession,
        (
            Option(
                "title",
                OptionType.STRING,
                "What the session is about",
                required=True,
                min_length=1,
                max_length=rules.TITLE_MAX,
            ),
            _WHEN,
            Option("person", OptionType.USER, "Your mentor or mentee (not for a workshop)"),
            _DURATION,
            Option(
                "type",
                OptionType.STRING,
                "one_on_one (default), group or workshop",
                choices=rules.SESSION_TYPES,
            ),
            Option(
                "link", OptionType.STRING, "Meeting link (https://…)", max_length=rules.LINK_MAX
            ),
            Option(
                "capacity",
                OptionType.INTEGER,
                "Workshops: most attendees (default no limit)",
                min_value=1,
                max_value=rules.CAPACITY_MAX,
            ),
            Option(
                "description",
                OptionType.TEXT,
                "What you will cover",
                max_length=rules.DESCRIPTION_MAX,
            ),
        ),
        form_title="Schedule a session",
    ),
    Command(
        "session",
        "reschedule",
        "Move a session to another time",
        manage.reschedule_command,
        manage.RescheduleSession,
        (_SESSION, _WHEN, _DURATION),
    ),
    Command(
        "session",
        "cancel",
        "Cancel a session; the others are told",
        manage.cancel_command,
        manage.CancelSession,
        (
            _SESSION,
            Option("reason", OptionType.STRING, "Why (shown to the others)", max_length=300),
        ),
    ),
    Command(
        "session",
        "complete",
        "Mark a session as held, with notes and feedback",
        manage.complete,
        manage.CompleteSession,
        (
            _SESSION,
            Option("notes", OptionType.TEXT, "What you covered", max_length=rules.NOTES_MAX),
            Option("feedback", OptionType.TEXT, "How it went", max_length=rules.NOTES_MAX),
        ),
        form_title="Session held",
    ),
    Command(
        "session",
        "no-show",
        "Record that someone did not come to a session",
        manage.no_show,
        manage.MarkNoShow,
        (_SESSION, Option("person", OptionType.USER, "Who did not come", required=True)),
    ),
    Command(
        "session",
        "agenda",
        "Your upcoming sessions",
        agenda.show_agenda,
        agenda.ShowAgenda,
        read_only=True,
    ),
    Command(
        "session",
        "suggest-times",
        "Free times in the next 14 days inside both your daytimes",
        planning.suggest_times,
        planning.SuggestTimes,
        (_PERSON, _DURATION),
        read_only=True,
    ),
    Command(
        "session",
        "reminders",
        'When you are reminded before sessions: e.g. 24h,1h; "off"; "default" (24h,15m)',
        agenda.set_reminders,
        agenda.SetReminders,
        (
            Option(
                "times",
                OptionType.STRING,
                'e.g. 24h,1h or 1d,30m; "off"; "default"',
                required=True,
                max_length=60,
            ),
        ),
    ),
    Command(
        "session",
        "calendar",
        "Your private calendar feed URL (reset:yes replaces it)",
        agenda.calendar_link,
        agenda.CalendarLink,
        (Option("reset", OptionType.BOOLEAN, "Replace the URL; the old one stops working"),),
    ),
)
