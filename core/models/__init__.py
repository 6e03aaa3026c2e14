"""Every table of Mentorbot. Importing this package registers them all on ``Base.metadata``."""

from core.models.base import Base
from core.models.community import AuditEntry, BadgeAward, Community, Member
from core.models.delivery import Delivery, DispatcherHeartbeat, ProcessedEvent
from core.models.goals import GoalProgress, MenteeGoal, MenteeMilestone
from core.models.groups import (
    DiscussionPrompt,
    GroupPromptUse,
    SupportGroup,
    SupportGroupMeeting,
    SupportGroupMember,
    SupportGroupPost,
    SupportGroupReply,
)
from core.models.mentoring import (
    CalendarFeed,
    Mentee,
    Mentor,
    MentorMessage,
    MentorReview,
    MentorSession,
    Mentorship,
    MentorshipThread,
    MessageRoute,
    PendingRelay,
    SessionAttendee,
)
from core.models.reports import ReportSchedule
from core.models.state import BotState

__all__ = [
    "AuditEntry",
    "BadgeAward",
    "Base",
    "BotState",
    "CalendarFeed",
    "Community",
    "Delivery",
    "DiscussionPrompt",
    "DispatcherHeartbeat",
    "GoalProgress",
    "GroupPromptUse",
    "Member",
    "Mentee",
    "MenteeGoal",
    "MenteeMilestone",
    "Mentor",
    "MentorMessage",
    "MentorReview",
    "MentorSession",
    "Mentorship",
    "MentorshipThread",
    "MessageRoute",
    "PendingRelay",
    "ProcessedEvent",
    "ReportSchedule",
    "SessionAttendee",
    "SupportGroup",
    "SupportGroupMeeting",
    "SupportGroupMember",
    "SupportGroupPost",
    "SupportGroupReply",
]
