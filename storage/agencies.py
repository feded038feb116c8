"""Agencies and the Kemendagri regions they cover."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from storage.models import Agency, AgencyRegion

REGION_CODE = re.compile(r"^\d{2}(\.\d{2})?$")


class AgencyError(Exception):
    """An agency cannot be created as asked (the message says why, in one line)."""


def create_agency(
    code: str,
    name: str,
    *,
    regions: list[str],
    national: bool,
    session: Session,
) -> Agency:
    code = code.strip().upper()
    if not code or not name.strip():
        raise AgencyError("an agency needs a code and a name")
    bad = [region for region in regions if not REGION_CODE.match(region)]
    if bad:
        raise AgencyError(f"not a Kemendagri province or regency code: {bad[0]!r} (e.g. 18, 18.11)")
    if session.exec(select(Agency).where(Agency.code == code)).first() is not None:
        raise AgencyError(f"agency {code} already exists")
    agency = Agency(code=code, name=name.strip(), national=national)
    session.add(agency)
    session.flush()
    assert agency.id is not None
    for region in sorted(set(regions)):
        session.add(AgencyRegion(agency_id=agency.id, region_code=region))
    session.flush()
    return agency


def get_agency(code: str, *, session: Session) -> Agency | None:
    return session.exec(select(Agency).where(Agency.code == code.strip().upper())).first()


def list_agencies(*, session: Session) -> list[tuple[Agency, list[str]]]:
    """Every agency by code, with the region codes it covers."""
    agencies = session.exec(select(Agency).order_by(col(Agency.code))).all()
    regions: dict[int, list[str]] = {}
    for row in session.exec(select(AgencyRegion).order_by(col(AgencyRegion.region_code))).all():
        regions.setdefault(row.agency_id, []).append(row.region_code)
    return [(agency, regions.get(agency.id or 0, [])) for agency in agencies]
