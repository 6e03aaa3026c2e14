"""Defaults a new community starts with; admins may change them with /admin setup."""

from __future__ import annotations

EXPERTISE_OPTIONS: tuple[str, ...] = ("giving", "loans", "community", "financial")

GOAL_OPTIONS: tuple[str, ...] = (
    "learn_giving",
    "build_budget",
    "understand_loans",
    "grow_community",
    "plan_finances",
)

# Which mentor expertise serves which mentee goal (matching, F4).
GOAL_EXPERTISE: dict[str, tuple[str, ...]] = {
    "learn_giving": ("giving",),
    "build_budget": ("financial",),
    "understand_loans": ("loans", "financial"),
    "grow_community": ("community",),
    "plan_finances": ("financial",),
}

# Role keys the core grants, with the name the role gets when the bot creates it.
ROLE_NAMES: dict[str, str] = {"mentor": "Mentor"}

# Support-group types every community starts with; admins add their own (/admin setup).
GROUP_TYPES: tuple[str, ...] = ("new_givers", "loan_funders", "community_leaders")
