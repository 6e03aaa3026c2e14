"""The support-group and prompt commands (F8, F9), as catalog entries.

``core.commands`` adds ``COMMANDS`` to the one catalog, so Discord, Slack and the console
all get them.
"""

from __future__ import annotations

from dataclasses import replace

from core.catalog import Access, Autocomplete, Command, Option, OptionType
from core.prompts import KINDS
from core.recurrence import FREQUENCIES, WEEKDAYS, WEEKS
from core.usecases import (
    group_lifecycle,
    group_meetings,
    group_membership,
    group_notes,
    group_posts,
    group_prompts,
    groups,
)

# Modules with buttons and forms but no command of their own: importing them registers
# their handlers (Record notes, Calendar .ics).
HANDLER_MODULES = (group_notes,)

_GROUP = Option(
    "group",
    OptionType.STRING,
    "The group's name",
    required=True,
    max_length=80,
    autocomplete=Autocomplete.GROUPS,
)
_DAY = Option("day", OptionType.STRING, "Day of the week", required=True, choices=WEEKDAYS)
_TIME = Option("time", OptionType.STRING, "Local time, e.g. 19:00", required=True, max_length=8)
_FREQUENCY = Option(
    "frequency",
    OptionType.STRING,
    "weekly, biweekly (every other week) or monthly (nth weekday)",
    required=True,
    choices=FREQUENCIES,
)
_WEEK = Option("week", OptionType.STRING, "Monthly only: which week (1-4 or last)", choices=WEEKS)
_DURATION = Option(
    "duration", OptionType.INTEGER, "Minutes (default 60)", min_value=15, max_value=480
)
_ZONE = Option(
    "timezone",
    OptionType.STRING,
    "The group's IANA timezone, e.g. Europe/London",
    max_length=64,
    autocomplete=Autocomplete.TIMEZONES,
)
_KIND = Option("kind", OptionType.STRING, "guide, icebreaker or topic", choices=KINDS)
_TAG = Option(
    "tag", OptionType.STRING, "Only prompts with this tag (e.g. new_givers)", max_length=32
)
_DATE = Option(
    "date", OptionType.STRING, "The meeting's date, YYYY-MM-DD", required=True, max_length=10
)

COMMANDS = (
    Command(
        "group",
        "create",
        "Create a support group with its private space and meetings",
        group_lifecycle.create_group,
        group_lifecycle.CreateGroup,
        (
            Option("name", OptionType.STRING, "The group's name", required=True, max_length=80),
            Option(
                "type",
                OptionType.STRING,
                "new_givers, loan_funders, community_leaders or your own",
                required=True,
                max_length=32,
            ),
            Option("facilitator", OptionType.USER, "Who leads it", required=True),
            _FREQUENCY,
            _DAY,
            _TIME,
            replace(_ZONE, required=True),
            Option("description", OptionType.TEXT, "What the group is for", max_length=1000),
            Option(
                "max_members",
                OptionType.INTEGER,
                "Most members (2-50, default 12)",
                min_value=2,
                max_value=50,
            ),
            Option("private", OptionType.BOOLEAN, "Unlisted; joining needs the facilitator's yes"),
            _WEEK,
            _DURATION,
        ),
        access=Access.ADMIN,
        form_title="Create a support group",
    ),
    Command(
        "group",
        "list",
        "Support groups you can join",
        groups.list_groups,
        groups.ListGroups,
        (
            Option("type", OptionType.STRING, "Only this type", max_length=32),
            Option("has_space", OptionType.BOOLEAN, "Only groups whose space is ready"),
            _ZONE,
            Option("page", OptionType.INTEGER, "Page number", min_value=1, max_value=1000),
        ),
        read_only=True,
    ),
    Command(
        "group",
        "info",
        "A group's card: members, schedule, next meetings",
        group_lifecycle.show_group,
        groups.GroupRef,
        (_GROUP,),
        read_only=True,
    ),
    Command(
        "group",
        "join",
        "Join a support group",
        group_membership.join_group,
        groups.GroupRef,
        (_GROUP,),
    ),
    Command(
        "group",
        "leave",
        "Leave a support group",
        group_membership.leave_group,
        groups.GroupRef,
        (_GROUP,),
    ),
    Command(
        "group",
        "remove",
        "Remove a member from a group (facilitator or admin)",
        group_membership.remove_member,
        group_membership.RemoveMember,
        (
            _GROUP,
            Option("member", OptionType.USER, "Who to remove", required=True),
            Option(
                "reason",
                OptionType.STRING,
                "Why (kept in the audit log)",
                required=True,
                max_length=500,
            ),
        ),
    ),
    Command(
        "group",
        "archive",
        "Archive a group: meetings stop, its space becomes read-only",
        group_lifecycle.archive_group,
        groups.GroupRef,
        (_GROUP,),
    ),
    Command(
        "group",
        "meetings",
        "A group's upcoming meetings (and the last one's notes)",
        group_meetings.list_meetings,
        groups.GroupRef,
        (_GROUP,),
        read_only=True,
    ),
    Command(
        "group",
        "move-meeting",
        "Move one meeting (facilitator or admin)",
        group_meetings.move_meeting,
        group_meetings.MoveMeeting,
        (
            _GROUP,
            _DATE,
            Option(
                "to_date", OptionType.STRING, "New date, YYYY-MM-DD", required=True, max_length=10
            ),
            Option(
                "to_time",
                OptionType.STRING,
                "New local time, e.g. 18:30",
                required=True,
                max_length=8,
            ),
        ),
    ),
    Command(
        "group",
        "cancel-meeting",
        "Cancel one meeting (facilitator or admin)",
        group_meetings.cancel_meeting,
        group_meetings.CancelMeeting,
        (_GROUP, _DATE),
    ),
    Command(
        "group",
        "schedule",
        "Change a group's meeting schedule; future meetings follow",
        group_meetings.change_schedule,
        group_meetings.ChangeSchedule,
        (_GROUP, _FREQUENCY, _DAY, _TIME, _WEEK, _DURATION, _ZONE),
    ),
    Command(
        "group",
        "post",
        "Post in your group's space, with a thread for replies (facilitator)",
        group_posts.post,
        group_posts.PostToGroup,
        (
            _GROUP,
            Option(
                "text", OptionType.TEXT, "The post", required=True, min_length=1, max_length=3000
            ),
            Option("pin", OptionType.BOOLEAN, "Pin it in the space"),
        ),
        form_title="Post to your group",
    ),
    Command(
        "group",
        "prompt",
        "Post the group's next discussion prompt now (facilitator)",
        group_prompts.prompt_now,
        group_prompts.PromptNow,
        (_GROUP, _KIND, _TAG),
    ),
    Command(
        "group",
        "prompt-schedule",
        "Post a prompt every week at a set time (facilitator or admin)",
        group_prompts.prompt_schedule,
        group_prompts.PromptSchedule,
        (
            _GROUP,
            Option("day", OptionType.STRING, "Day of the week", choices=WEEKDAYS),
            Option("time", OptionType.STRING, "Group's local time, e.g. 09:00", max_length=8),
            _KIND,
            _TAG,
            Option("off", OptionType.BOOLEAN, "Stop the scheduled prompts"),
        ),
    ),
    Command(
        "admin",
        "prompt-add",
        "Add a discussion prompt to this community's library",
        group_prompts.add_prompt,
        group_prompts.AddPrompt,
        (
            Option(
                "kind",
                OptionType.STRING,
                "guide, icebreaker or topic",
                required=True,
                choices=KINDS,
            ),
            Option(
                "title",
                OptionType.STRING,
                "A short title",
                required=True,
                min_length=3,
                max_length=100,
            ),
            Option(
                "text", OptionType.TEXT, "The prompt", required=True, min_length=10, max_length=1500
            ),
            Option("tags", OptionType.LIST, "Group types it suits, comma-separated"),
        ),
        access=Access.ADMIN,
        form_title="Add a discussion prompt",
    ),
    Command(
        "admin",
        "prompt-list",
        "The discussion-prompt library (shipped and yours)",
        group_prompts.list_prompts,
        group_prompts.ListPrompts,
        (_KIND, Option("page", OptionType.INTEGER, "Page number", min_value=1, max_value=100)),
        access=Access.ADMIN,
        read_only=True,
    ),
    Command(
        "admin",
        "prompt-remove",
        "Remove one of this community's own prompts",
        group_prompts.remove_prompt,
        group_prompts.RemovePrompt,
        (
            Option(
                "prompt",
                OptionType.STRING,
                "The prompt's id (see prompt-list)",
                required=True,
                max_length=64,
            ),
        ),
        access=Access.ADMIN,
    ),
)
