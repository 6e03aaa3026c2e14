"""The dispatcher: claims due effects from the delivery queue and hands them to a port.

Claims (``core.delivery.claims``). A batch of due rows is claimed in one statement
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL). A claim lasts ``lease_seconds`` and is
renewed with every heartbeat (each ``heartbeat_seconds``, and before a platform call when
one is due), so it holds for as long as the dispatcher works on it; before each platform
call the dispatcher checks that its claim has not lapsed, so a row another dispatcher
took over is never sent by both. A dispatcher that dies stops beating and its rows are
taken over ``lease_seconds`` after its last heartbeat; a row taken over this way, or
retried after an error whose outcome is unknown, is passed to the port as
``Attempt(uncertain=True)`` so the platform's own de-duplication (nonce, metadata)
catches a repeat.

Order and concurrency. Rows are grouped by destination (a member's DMs, a channel, the
community's roles, a group's space); destinations are worked on concurrently, each in
order. A failure on one destination reschedules that row, and holds back the later rows
of that destination, without delaying any other.

Failures. Rate limits wait and never count; transient failures back off exponentially
(capped, with jitter) for as long as the effect is useful (see ``core.effects``); only a
``PermanentFailure`` stops an effect at once (``core.delivery.verdicts``). A run of
failures in a community tells its admins once that delivery is degraded and once that
it recovered (``core.delivery.health``).

Recording. A batch's results are written in one statement, in the transaction that
claims the next batch; that transaction runs on the database driver and takes an ORM
session only when a batch writes through it (see ``core.delivery.transaction``).

Timing. Besides the poll, one wake-up is armed at the earliest moment a row becomes due
(or a claim lapses), re-armed after every pass.
"""

from core.delivery.claims import default_worker_id
from core.delivery.dispatcher import DeliverySettings, Dispatcher

__all__ = ["DeliverySettings", "Dispatcher", "default_worker_id"]
