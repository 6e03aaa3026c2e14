"""The community `mentorbot demo` plays: who they are, what they do, what each step must show.

Olive runs the community. Alice and Bruno apply to mentor; Dave and Erin are looking for
one. Over four days on the demo clock they go through every feature, section by section.

Adding a section is adding one ``Section`` to ``SECTIONS`` (in the order it should play):
a title, a sentence about it, and its steps. A step is ``Step(actor, line, *expectations,
note=…)`` (``Advance(span, …)`` moves the clock); every step declares at least one
expectation (see :mod:`adapters.console.demo` for the kinds). ``{name}`` in a line is a
value an earlier step kept with ``Remember``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.console.demo import (
    Advance,
    Demo,
    Dm,
    FileSent,
    Granted,
    Posted,
    Printed,
    Remember,
    Section,
    Sees,
    Step,
)

ALICE_BIO = "I have funded 40 microloans and love explaining how they work."
BRUNO_BIO = "Community organiser for ten years; I help new groups find their feet."
GROUP = 'group:"New givers circle"'
ROOM = "new-givers-circle"

SECTIONS: tuple[Section, ...] = (
    Section(
        "Setting up",
        "Olive, an admin, sets the community up: where applications go, where news goes.",
        (
            Step(
                "olive",
                "/admin setup admin_role:@Admins admin_channel:#mentor-admin "
                "announcement_channel:#general default_timezone:Europe/London",
                Sees("olive", "Mentorbot is set up"),
                note="Olive sets the community up.",
            ),
        ),
    ),
    Section(
        "Mentor applications",
        "Alice and Bruno apply to mentor; Olive approves them with the buttons on each "
        "application. A field that breaks a rule is refused, naming the field.",
        (
            Step(
                "alice",
                f'/mentor apply bio:"{ALICE_BIO}" expertise:giving,loans availability:6 '
                "max_mentees:2 style:async languages:en,es timezone:Madrid",
                Sees("alice", "`timezone`: must be an IANA timezone"),
                note="Alice applies, with a timezone that is not an IANA name.",
            ),
            Step(
                "alice",
                f'/mentor apply bio:"{ALICE_BIO}" expertise:giving,loans availability:6 '
                "max_mentees:2 style:async languages:en,es timezone:Europe/Madrid",
                Sees("alice", "Application sent"),
                Posted("mentor-admin", "Mentor application: alice"),
                note="She fixes it; the application lands in the admin channel.",
            ),
            Step(
                "bruno",
                f'/mentor apply bio:"{BRUNO_BIO}" expertise:community,giving availability:4 '
                "style:casual languages:pt,en timezone:America/Sao_Paulo",
                Posted("mentor-admin", "Mentor application: bruno"),
            ),
            Step(
                "olive",
                "/admin applications",
                Sees("olive", "Mentor application: alice"),
                Sees("olive", "1 more waiting"),
                note="Olive reviews the oldest waiting application.",
            ),
            Step(
                "olive",
                "click Approve",
                Dm("alice", "You're a mentor now"),
                Granted("alice", "Mentor"),
                Posted("general", "Please welcome our new mentor @alice"),
            ),
            Step(
                "olive",
                "click Approve",
                Dm("bruno", "You're a mentor now"),
                Granted("bruno", "Mentor"),
                note="Bruno's application is the latest in the admin channel; Approve.",
            ),
        ),
    ),
    Section(
        "Mentee profiles",
        "Dave and Erin say what they want to learn, their timezone and languages.",
        (
            Step(
                "dave",
                "/mentee profile goals:learn_giving,understand_loans "
                'challenges:"I never know how much to give." timezone:Europe/London '
                "languages:en",
                Sees("dave", "Mentee profile created"),
            ),
            Step(
                "erin",
                "/mentee profile goals:grow_community style:casual timezone:America/New_York "
                "languages:en,pt",
                Sees("erin", "Mentee profile created"),
            ),
        ),
    ),
    Section(
        "Browse and suggest",
        "Dave browses the mentors, then asks which fit him best and why.",
        (
            Step(
                "dave",
                "/mentor browse expertise:giving",
                Sees("dave", "Mentors (2 found"),
                Sees("dave", "[Request alice]"),
            ),
            Step(
                "dave",
                "/mentor suggest count:2",
                Sees("dave", "Your best matches"),
                Sees("dave", "Why this match"),
                Sees("dave", "· alice ·"),
            ),
        ),
    ),
    Section(
        "Requests",
        "Dave asks Alice to mentor him; she gets a DM with Accept / Decline and accepts.",
        (
            Step(
                "dave",
                'click "Request alice"',
                Sees("dave", "Ask alice to mentor you"),
                note="The Request button opens a short form for an optional note.",
            ),
            Step(
                "dave",
                'submit note:"I would like to start lending, carefully."',
                Sees("dave", "Request sent"),
                Dm("alice", "Mentorship request from dave"),
            ),
            Step(
                "alice",
                "click Accept",
                Dm("dave", "Mentorship with alice started"),
                Dm("alice", "Mentorship with dave started"),
                Granted("dave", "Mentorship Started"),
            ),
        ),
    ),
    Section(
        "DM threads",
        "Alice and Dave talk through the bot: each message is kept and passed on to the "
        "other's thread for this mentorship.",
        (
            Step(
                "alice",
                'reply "Welcome, Dave! What would you like to learn first?"',
                Dm("dave", "Welcome, Dave!"),
            ),
            Step(
                "dave",
                'reply "How to choose a first loan, please."',
                Dm("alice", "How to choose a first loan"),
            ),
        ),
    ),
    Section(
        "A matching round",
        "Erin is still waiting. Olive runs a matching round: it proposes the best pairs "
        "under every mentor's capacity and asks both sides to accept.",
        (
            Step(
                "olive",
                "/admin match-round",
                Sees("olive", "Matching round done"),
                Dm("bruno", "Proposed mentee: erin"),
                Dm("erin", "We found you a mentor: bruno"),
            ),
            Step("bruno", "click Accept", Sees("bruno", "Waiting for @erin")),
            Step(
                "erin",
                "click Accept",
                Dm("erin", "Mentorship with bruno started"),
                Dm("bruno", "Mentorship with erin started"),
            ),
        ),
    ),
    Section(
        "Sessions",
        "Dave books a session with Alice. Both are told in their own timezone with a "
        "calendar file; reminders come 24 h and 15 min before. Afterwards Alice records it.",
        (
            Step(
                "dave",
                '/session schedule person:@alice title:"Choosing a first loan" '
                'when:"tomorrow 18:30" duration:60 link:https://meet.example/dave-alice',
                Dm("dave", "18:30 BST"),
                Dm("alice", "19:30 CEST"),
                FileSent("dave", ".ics"),
                FileSent("alice", ".ics"),
                Remember("session", r"Session (\w+) ·"),
                note="18:30 on Dave's clock in London is 19:30 on Alice's in Madrid.",
            ),
            Step("alice", "/session agenda", Sees("alice", "Choosing a first loan")),
            Advance(
                "8h30m",
                Dm("dave", "Reminder: Choosing a first loan"),
                Dm("alice", "Reminder: Choosing a first loan"),
                note="The clock moves to 24 hours before the session.",
            ),
            Advance(
                "23h45m",
                Dm("alice", "https://meet.example/dave-alice"),
                Dm("dave", "Reminder: Choosing a first loan"),
                note="And to 15 minutes before.",
            ),
            Advance("1h15m", Printed("(time is now"), note="The session is over."),
            Step(
                "alice",
                '/session complete session:{session} notes:"Compared three borrowers."',
                Sees("alice", "held"),
                Granted("alice", "First Mentor Session"),
            ),
        ),
    ),
    Section(
        "A support group",
        "Olive starts a weekly support group with Alice as facilitator: a private room, "
        "meetings on a schedule with reminders in the room, and discussion prompts.",
        (
            Step(
                "olive",
                '/group create name:"New givers circle" type:new_givers facilitator:@alice '
                "frequency:weekly day:thursday time:19:00 timezone:Europe/London",
                Printed(f"[channel created] #{ROOM}"),
                Printed("[event"),
                Granted("alice", "Group Facilitator"),
            ),
            Step("dave", f"/group join {GROUP}", Printed(f"[channel] #{ROOM} +@dave")),
            Step("erin", f"/group join {GROUP}", Printed(f"[channel] #{ROOM} +@erin")),
            Step(
                "alice",
                f"/group prompt {GROUP} kind:icebreaker",
                Posted(ROOM, "Icebreaker:"),
                Printed(f"[thread] #{ROOM}"),
                note="Alice posts an icebreaker; replies go in its thread.",
            ),
            Step(
                "dave",
                'thread "I gave to a school library fund last month."',
                Printed(f"[#{ROOM} › thread] @dave"),
            ),
            Step(
                "alice",
                f"/group prompt-schedule {GROUP} day:wednesday time:09:00 kind:topic",
                Sees("alice", "every Wednesday at 09:00"),
                note="And sets a topic card to come every Wednesday morning.",
            ),
            Advance(
                "13h30m",
                Posted(ROOM, "Topic card:"),
                note="Wednesday 09:00 in London: the first topic card.",
            ),
            Advance(
                "10h",
                Posted(ROOM, "Reminder: New givers circle meets in 24 h"),
                note="24 hours before the meeting, a reminder in the room.",
            ),
            Advance(
                "23h",
                Posted(ROOM, "Reminder: New givers circle meets in 60 min"),
                note="Thursday, an hour before the meeting.",
            ),
            Advance(
                "2h",
                Sees("alice", "How did the New givers circle meeting go?"),
                note="After the meeting Alice, the facilitator, is asked for notes.",
            ),
            Step("alice", "click Record notes", Sees("alice", "notes")),
            Step(
                "alice",
                'submit topic:"First gifts" notes:"Everyone shared one gift." attendees:3',
                Sees("alice", "saved"),
            ),
        ),
    ),
    Section(
        "Goals and milestones",
        "Dave and Alice set a goal with milestones; ticking them moves the progress, the "
        "chart shows it over time, and completing it earns a badge.",
        (
            Step(
                "dave",
                '/goal add person:@alice title:"Fund a first loan" target_date:2026-07-31 '
                'milestones:"Read the guide;Pick a borrower;Lend 25"',
                Sees("dave", "░░░░░░░░ 0%"),
            ),
            Step(
                "dave",
                'click "Read the guide"',
                Sees("dave", "☑ Read the guide"),
                Dm("alice", "Read the guide"),
            ),
            Advance("2d", Printed("(time is now 2026-06-06"), note="Two days on."),
            Step("dave", 'click "Pick a borrower"', Sees("dave", "☑ Pick a borrower")),
            Step(
                "dave",
                "click Chart",
                FileSent("dave", ".png"),
                Sees("dave", "Fund a first loan (active)"),
                note="The chart is a PNG; the same progress is given in words.",
            ),
            Step(
                "dave",
                "click Complete",
                Sees("dave", "100%"),
                Granted("dave", "Goal Achieved"),
            ),
        ),
    ),
    Section(
        "A review",
        "Alice ends the mentorship with notes; Dave is invited to rate her, and her "
        "average rating follows.",
        (
            Step(
                "alice",
                "/mentorship end person:@dave outcome:completed",
                Sees("alice", "[form → @alice]"),
            ),
            Step(
                "alice",
                'submit notes:"Dave funds a loan a month now."',
                Dm("dave", "5 ★"),
            ),
            Step("dave", "click 5", Sees("dave", "Review: 5 of 5")),
            Step(
                "dave",
                'submit comment:"Patient, clear and practical." public:yes',
                Sees("dave", "Your review is saved"),
            ),
            Step("erin", "/mentor reviews mentor:@alice", Sees("erin", "Patient, clear")),
        ),
    ),
    Section(
        "Badges",
        "Badges were awarded as things happened, each as a role; members see theirs and "
        "how far the next one is.",
        (
            Step(
                "dave",
                "/mentor badges",
                Sees("dave", "Mentorship Started"),
                Sees("dave", "Goal Achieved"),
            ),
            Step(
                "alice",
                "/mentor badges",
                Sees("alice", "First Mentor Session"),
                Sees("alice", "to **Dedicated Mentor**"),
            ),
        ),
    ),
    Section(
        "Impact metrics",
        "Olive reads how the programme is doing this month, each figure beside the month "
        "before, with a chart.",
        (
            Step(
                "olive",
                "/admin metrics chart:mentorships",
                Sees("olive", "Impact metrics"),
                Sees("olive", "held: 1"),
                Sees("olive", "average rating: 5.00"),
                FileSent("olive", ".png"),
            ),
        ),
    ),
    Section(
        "Your data",
        "Dave downloads everything Mentorbot stores about him; only he receives the file.",
        (
            Step(
                "dave",
                "/privacy export",
                Sees("dave", "Everything Mentorbot stores about you"),
                FileSent("dave", ".json"),
            ),
        ),
    ),
)

DEMO = Demo(
    community="Riverside Givers",
    # A Monday morning in June (London on summer time), so the week's dates read well.
    start=datetime(2026, 6, 1, 9, 0, tzinfo=UTC),
    admins=frozenset({"olive"}),
    sections=SECTIONS,
)
