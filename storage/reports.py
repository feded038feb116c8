"""Reports: lookup by receipt (one indexed query on a keyed hash)."""

from __future__ import annotations

from sqlmodel import Session, select

from storage.crypto import Hasher
from storage.models import Report
from storage.receipts import parse_receipt


def find_report_by_receipt(text: str, *, hasher: Hasher, session: Session) -> Report | None:
    """The report whose receipt the person meant by ``text``; None for anything else."""
    canonical = parse_receipt(text)
    if canonical is None:
        return None
    digest = hasher.receipt_hash(canonical)
    return session.exec(select(Report).where(Report.receipt_hash == digest)).first()
