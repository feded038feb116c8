"""Agencies, the Kemendagri regions they cover and the services they offer to referrals."""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import Agency, AgencyRegion, AgencyService, Service

REGION_CODE = re.compile(r"^\d{2}(\.\d{2})?$")


class AgencyError(Exception):
    """An agency cannot be created as asked (the message says why, in one line)."""


def create_agency(
    code: str,
    name: str,
    *,
    regions: list[str],
    national: bool,
    services: list[Service] | None = None,
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
    for service in sorted(set(services or [])):
        session.add(AgencyService(agency_id=agency.id, service=service))
    session.flush()
    return agency


def get_agency(code: str, *, session: Session) -> Agency | None:
    return session.exec(select(Agency).where(Agency.code == code.strip().upper())).first()


def list_agencies(*, session: Session) -> list[tuple[Agency, list[str]]]:
    """Every agency by code, with the region codes it covers."""
    return _with_regions(session.exec(select(Agency).order_by(col(Agency.code))).all(), session)


def _with_regions(agencies: Sequence[Agency], session: Session) -> list[tuple[Agency, list[str]]]:
    """Each agency with the region codes it covers, in code order."""
    regions: dict[int, list[str]] = {agency.id or 0: [] for agency in agencies}
    rows = session.exec(
        select(AgencyRegion)
        .where(col(AgencyRegion.agency_id).in_(regions))
        .order_by(col(AgencyRegion.region_code))
    ).all()
    for row in rows:
        regions[row.agency_id].append(row.region_code)
    return [(agency, regions[agency.id or 0]) for agency in agencies]


def services_of(agency_ids: set[int], *, session: Session) -> dict[int, list[str]]:
    """The services each agency offers, by agency id."""
    found: dict[int, list[str]] = {agency_id: [] for agency_id in agency_ids}
    if agency_ids:
        rows = session.exec(
            select(AgencyService)
            .where(col(AgencyService.agency_id).in_(agency_ids))
            .order_by(col(AgencyService.service))
        ).all()
        for row in rows:
            found[row.agency_id].append(str(row.service))
    return found


def offers(agency_id: int, service: Service, *, session: Session) -> bool:
    return session.get(AgencyService, (agency_id, service)) is not None


def covering(region: str | None) -> list[str]:
    """The region codes whose agencies cover ``region``: a regency (``18.11``) is covered by
    itself and its province (``18``); a province only by itself (a regency's agency does not
    cover the whole province)."""
    if not region:
        return []
    province = region.split(".", 1)[0]
    return [region] if province == region else [region, province]


def directory(
    service: Service, region: str | None, *, session: Session
) -> list[tuple[Agency, list[str]]]:
    """Agencies offering ``service`` whose regions cover ``region`` (national agencies always;
    without a region, every agency offering it), by code, with the regions each covers."""
    offering = select(AgencyService.agency_id).where(AgencyService.service == service)
    statement = select(Agency).where(col(Agency.id).in_(offering)).order_by(col(Agency.code))
    if region is not None:
        covers = select(AgencyRegion.agency_id).where(
            col(AgencyRegion.region_code).in_(covering(region))
        )
        statement = statement.where(
            sa.or_(col(Agency.national).is_(True), col(Agency.id).in_(covers))
        )
    return _with_regions(session.exec(statement).all(), session)
