"""THE command catalog: every user-facing command, declared once.

Adding a command = one entry here + one use case (+ a renderer where needed).
"""

from __future__ import annotations

from dataclasses import replace

from core.catalog import Access, Autocomplete, Catalog, Command, Option, OptionType
from core.context import ChannelKind
from core.usecases import (
    badges,
    community,
    deliveries,
    discovery,
    goals,
    group_catalog,
    mentees,
    mentors,
    mentorships,
    requests,
    reviews,
    rounds,
    sessions,
    threads,
)
from core.usecases.help import ShowHelp, show_help

_STYLE = ("async", "scheduled", "casual")
_MENTEE_STYLE = ("any", *_STYLE)

_MENTOR_FIELDS = (
    Option(
        "bio",
        OptionType.TEXT,
        "About you and what you can help with",
        min_length=mentors.BIO_MIN,
        max_length=mentors.BIO_MAX,
    ),
    Option(
        "expertise",
        OptionType.LIST,
        "Your areas, comma-separated (e.g. giving,loans)",
        autocomplete=Autocomplete.EXPERTISE,
    ),
    Option(
        "availability",
        OptionType.INTEGER,
        "Hours per month you can give",
        min_value=mentors.AVAILABILITY_MIN,
        max_value=mentors.AVAILABILITY_MAX,
    ),
    Option("style", OptionType.STRING, "How you like to mentor", choices=_STYLE),
    Option(
        "languages",
        OptionType.LIST,
        "Languages you mentor in, ISO 639-1 codes (e.g. en,es)",
        autocomplete=Autocomplete.LANGUAGES,
    ),
    Option(
        "timezone",
        OptionType.STRING,
        "Your IANA timezone (e.g. Europe/Madrid)",
        max_length=64,
        autocomplete=Autocomplete.TIMEZONES,
    ),
    Option(
        "max_mentees",
        OptionType.INTEGER,
        f"Most mentees at once (default {mentors.MAX_MENTEES_DEFAULT})",
        min_value=mentors.MAX_MENTEES_MIN,
        max_value=mentors.MAX_MENTEES_MAX,
    ),
)
_PERSON = Option("person", OptionType.USER, "Your mentor or mentee", required=True)
_REQUIRED_TO_APPLY = {"bio", "expertise", "availability", "style", "languages", "timezone"}


def _required(options: tuple[Option, ...], names: set[str]) -> tuple[Option, ...]:
    return tuple(replace(o, required=o.name in names) for o in options)


CATALOG = Catalog(
    [
        Command(
            "mentor",
            "help",
            "List the commands, or show one command's options",
            show_help,
            ShowHelp,
            (Option("command", OptionType.STRING, "A command, e.g. mentor apply", max_length=60),),
            read_only=True,
        ),
        Command(
            "mentor",
            "apply",
            "Apply to become a mentor",
            mentors.apply,
            mentors.ApplyAsMentor,
            _required(_MENTOR_FIELDS, _REQUIRED_TO_APPLY),
            form_title="Apply to mentor",
        ),
        Command(
            "mentor",
            "profile",
            "Show your mentor profile",
            mentors.show_profile,
            mentors.NoOptions,
            read_only=True,
        ),
        Command(
            "mentor",
            "edit",
            "Change your mentor profile",
            mentors.edit_profile,
            mentors.EditMentorProfile,
            _required(_MENTOR_FIELDS, set()),
            form_title="Edit your mentor profile",
        ),
        Command(
            "mentor",
            "pause",
            "Stop receiving new mentees for a while",
            mentors.pause,
            mentors.NoOptions,
        ),
        Command("mentor", "resume", "Take new mentees again", mentors.resume, mentors.NoOptions),
        Command(
            "mentor",
            "retire",
            "Close your mentor profile (or withdraw your application)",
            mentors.retire,
            mentors.NoOptions,
        ),
        Command(
            "mentor",
            "browse",
            "Browse mentors who take mentees",
            discovery.browse,
            discovery.BrowseMentors,
            (
                Option(
                    "expertise",
                    OptionType.STRING,
                    "Only mentors with this expertise",
                    max_length=32,
                    autocomplete=Autocomplete.EXPERTISE,
                ),
                Option(
                    "language",
                    OptionType.STRING,
                    "Only mentors speaking this language (ISO 639-1, e.g. es)",
                    max_length=2,
                    autocomplete=Autocomplete.LANGUAGES,
                ),
                Option("style", OptionType.STRING, "Only this mentoring style", choices=_STYLE),
                Option(
                    "max_tz_distance",
                    OptionType.INTEGER,
                    "At most this many hours from your clock",
                    min_value=0,
                    max_value=12,
                ),
                Option(
                    "has_capacity",
                    OptionType.BOOLEAN,
                    "Only mentors with free places (default yes)",
                ),
                Option("page", OptionType.INTEGER, "Page number", min_value=1, max_value=1000),
            ),
            read_only=True,
        ),
        Command(
            "mentor",
            "suggest",
            "Your best-matching mentors, with why",
            discovery.suggest,
            discovery.SuggestMentors,
            (Option("count", OptionType.INTEGER, "How many", min_value=1, max_value=10),),
            read_only=True,
        ),
        Command(
            "mentor",
            "request",
            "Ask a mentor to mentor you",
            requests.request_by_command,
            requests.RequestMentor,
            (
                Option("mentor", OptionType.USER, "The mentor", required=True),
                Option(
                    "note",
                    OptionType.TEXT,
                    "A note for the mentor",
                    max_length=requests.NOTE_MAX,
                ),
            ),
        ),
        Command(
            "mentor",
            "reviews",
            "Reviews of a mentor (public ones; yours and your own private ones too)",
            reviews.show_reviews,
            reviews.ShowReviews,
            (
                Option("mentor", OptionType.USER, "The mentor (default: you)"),
                Option("page", OptionType.INTEGER, "Page number", min_value=1, max_value=1000),
            ),
            read_only=True,
        ),
        Command(
            "mentor",
            "badges",
            "Badges earned, and progress toward the next",
            badges.show_badges,
            badges.ShowBadges,
            (Option("member", OptionType.USER, "Whose badges (default: yours)"),),
            read_only=True,
        ),
        Command(
            "goal",
            "add",
            "Add a goal to a mentorship, with milestones",
            goals.add_goal,
            goals.AddGoal,
            (
                _PERSON,
                Option(
                    "title",
                    OptionType.STRING,
                    "What you want to achieve",
                    required=True,
                    min_length=1,
                    max_length=goals.TITLE_MAX,
                ),
                Option(
                    "target_date",
                    OptionType.STRING,
                    "By when, YYYY-MM-DD (in your timezone)",
                    max_length=10,
                ),
                Option(
                    "description",
                    OptionType.TEXT,
                    "More about the goal",
                    max_length=goals.DESCRIPTION_MAX,
                ),
                Option(
                    "milestones",
                    OptionType.TEXT,
                    f"Steps, one per line (or separated by ;), at most {goals.MILESTONES_MAX}",
                    max_length=goals.MILESTONES_MAX * (goals.MILESTONE_MAX + 1),
                ),
            ),
            form_title="Add a goal",
        ),
        Command(
            "goal",
            "list",
            "Your mentorships' goals, with their milestones",
            goals.list_goals,
            goals.ListGoals,
            (
                Option("person", OptionType.USER, "Only the mentorship with this person"),
                Option("page", OptionType.INTEGER, "Page number", min_value=1, max_value=1000),
            ),
            read_only=True,
        ),
        Command(
            "goal",
            "progress",
            "Set a goal's progress by hand (milestones stop driving it)",
            goals.set_goal_progress,
            goals.SetGoalProgress,
            (
                Option(
                    "goal",
                    OptionType.STRING,
                    "The goal's title (or its start)",
                    required=True,
                    max_length=goals.TITLE_MAX,
                ),
                Option(
                    "progress",
                    OptionType.INTEGER,
                    "Percent done",
                    required=True,
                    min_value=0,
                    max_value=100,
                ),
                Option("person", OptionType.USER, "The other person in the mentorship"),
            ),
        ),
        Command(
            "goal",
            "chart",
            "A chart of your goals' progress over time",
            goals.show_chart,
            goals.ShowChart,
            (Option("person", OptionType.USER, "The other person in the mentorship"),),
            read_only=True,
        ),
        Command(
            "mentorship",
            "list",
            "Your mentorships and where they stand",
            mentorships.list_mentorships,
            mentorships.ListMentorships,
            read_only=True,
        ),
        Command(
            "mentorship",
            "message",
            "Write to your mentor or mentee",
            threads.message_command,
            threads.SendToPerson,
            (
                _PERSON,
                Option(
                    "text",
                    OptionType.TEXT,
                    "The message",
                    required=True,
                    min_length=1,
                    max_length=threads.CONTENT_MAX,
                ),
            ),
        ),
        Command(
            "mentorship",
            "history",
            "Read your messages with someone",
            threads.history,
            threads.ShowHistory,
            (_PERSON, Option("limit", OptionType.INTEGER, "How many", min_value=1, max_value=50)),
        ),
        Command(
            "mentorship",
            "export",
            "Download your messages with someone (JSON)",
            threads.export,
            threads.ExportHistory,
            (_PERSON,),
        ),
        Command(
            "mentorship",
            "pause",
            "Pause a mentorship",
            mentorships.pause_mentorship,
            mentorships.WithPerson,
            (_PERSON,),
        ),
        Command(
            "mentorship",
            "resume",
            "Resume a paused mentorship",
            mentorships.resume_mentorship,
            mentorships.WithPerson,
            (_PERSON,),
        ),
        Command(
            "mentorship",
            "end",
            "End a mentorship, with completion notes",
            mentorships.ask_completion_notes,
            mentorships.EndMentorship,
            (
                _PERSON,
                Option(
                    "outcome",
                    OptionType.STRING,
                    "completed (goals met, default) or ended (stopped early)",
                    choices=("completed", "ended"),
                ),
            ),
        ),
        Command(
            "mentee",
            "profile",
            "Create or change your mentee profile",
            mentees.set_profile,
            mentees.SetMenteeProfile,
            (
                Option(
                    "goals",
                    OptionType.LIST,
                    "What you want to achieve, comma-separated (e.g. learn_giving,build_budget)",
                    autocomplete=Autocomplete.GOALS,
                ),
                Option(
                    "challenges",
                    OptionType.TEXT,
                    "What you find hard right now",
                    max_length=mentees.CHALLENGES_MAX,
                ),
                Option(
                    "style", OptionType.STRING, "Mentoring style you prefer", choices=_MENTEE_STYLE
                ),
                Option(
                    "timezone",
                    OptionType.STRING,
                    "Your IANA timezone (e.g. America/New_York)",
                    max_length=64,
                    autocomplete=Autocomplete.TIMEZONES,
                ),
                Option(
                    "languages",
                    OptionType.LIST,
                    "Languages you speak, ISO 639-1 codes (e.g. en,fr)",
                    autocomplete=Autocomplete.LANGUAGES,
                ),
            ),
        ),
        Command(
            "mentee",
            "show",
            "Show your mentee profile",
            mentees.show_profile,
            mentees.ShowMenteeProfile,
            read_only=True,
        ),
        Command(
            "admin",
            "setup",
            "Set up Mentorbot for this community (admin role, channels, timezone, lists)",
            community.set_up,
            community.SetUpCommunity,
            (
                Option("admin_role", OptionType.ROLE, "Role whose members administer Mentorbot"),
                Option("admin_channel", OptionType.CHANNEL, "Where mentor applications arrive"),
                Option("announcement_channel", OptionType.CHANNEL, "Where news is announced"),
                Option(
                    "group_category",
                    OptionType.CHANNEL,
                    "Category for support-group channels",
                    channel_kind=ChannelKind.CATEGORY,
                ),
                Option(
                    "default_timezone",
                    OptionType.STRING,
                    "Timezone used when a member has none",
                    max_length=64,
                    autocomplete=Autocomplete.TIMEZONES,
                ),
                Option(
                    "mentor_role_name",
                    OptionType.STRING,
                    "Name of the role approved mentors get",
                    min_length=1,
                    max_length=100,
                ),
                Option("expertise", OptionType.LIST, "Expertise mentors can pick, comma-separated"),
                Option("goals", OptionType.LIST, "Goals mentees can pick, comma-separated"),
                Option(
                    "badges",
                    OptionType.BOOLEAN,
                    "Award badges (as roles); turning them on awards what members earned",
                ),
                Option(
                    "group_types",
                    OptionType.LIST,
                    "Support-group types besides new_givers, loan_funders, community_leaders",
                ),
            ),
            access=Access.ADMIN,
        ),
        Command(
            "admin",
            "applications",
            "Review waiting mentor applications",
            mentors.list_applications,
            mentors.NoOptions,
            access=Access.ADMIN,
            read_only=True,
        ),
        Command(
            "admin",
            "match-round",
            "Match every waiting mentee at once; both sides are asked",
            rounds.matching_round,
            rounds.RunMatchingRound,
            (
                Option(
                    "min_score",
                    OptionType.INTEGER,
                    "Lowest compatibility to propose (default 40)",
                    min_value=0,
                    max_value=100,
                ),
            ),
            access=Access.ADMIN,
        ),
        Command(
            "admin",
            "audit",
            "Show recent admin actions",
            community.show_audit_log,
            community.ShowAuditLog,
            (Option("limit", OptionType.INTEGER, "How many entries", min_value=1, max_value=25),),
            access=Access.ADMIN,
            read_only=True,
        ),
        Command(
            "admin",
            "badges sync",
            "Give every member the badge roles they earned (again, where missing)",
            badges.sync_badges,
            badges.SyncBadges,
            access=Access.ADMIN,
        ),
        Command(
            "admin",
            "deliveries",
            "What is waiting to be sent, late or failed (and why); retry failed ones",
            deliveries.show_deliveries,
            deliveries.ShowDeliveries,
            access=Access.ADMIN,
            read_only=True,
        ),
        *sessions.COMMANDS,
        *group_catalog.COMMANDS,
    ]
)
