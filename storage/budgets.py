"""Send budgets shared by every process on one PostgreSQL database: a platform's rate (WhatsApp
per phone number, Telegram per bot) holds for all the senders together, not for each.

One row per budget holds the theoretical time of its next send (GCRA). A send reserves a slot
with one ``UPDATE … RETURNING`` (the row lock serialises reservations for the instant of the
statement, never across a send) and then waits, outside any transaction, until its slot. The
database's clock is the only clock, so processes on machines whose clocks differ agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

_RESERVE = sa.text(
    """
    WITH now AS (SELECT extract(epoch FROM clock_timestamp())::double precision AS t)
    UPDATE send_budget
    SET next_slot = GREATEST(send_budget.next_slot, now.t) + :interval
    FROM now
    WHERE send_budget.name = :name
    RETURNING send_budget.next_slot, now.t
    """
)

_CREATE = sa.text(
    "INSERT INTO send_budget (name, next_slot) VALUES (:name, 0) ON CONFLICT (name) DO NOTHING"
)


def reserve_slot(name: str, interval: float, tolerance: float, *, session: Session) -> float:
    """Take the next send slot of budget ``name`` (one send every ``interval`` seconds, with up
    to ``tolerance`` seconds of them at once); how many seconds to wait before sending. PostgreSQL
    only (on SQLite one process sends, and its budget lives in the process)."""
    row = session.execute(_RESERVE, {"name": name, "interval": interval}).first()
    if row is None:
        session.execute(_CREATE, {"name": name})
        row = session.execute(_RESERVE, {"name": name, "interval": interval}).one()
    next_slot, now = float(row[0]), float(row[1])
    return next_slot - interval - tolerance - now
