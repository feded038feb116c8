"""Evidence: fetched after the turn from a fake Graph API and a fake Bot API on loopback, capped,
images stripped of EXIF and GPS, stored encrypted, listed on the report."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image
from sqlmodel import select
from telegram import Bot

from bot.inbox import Inbox
from bot.media import (
    FetchConfig,
    MediaFetcher,
    Source,
    Unavailable,
    WhatsAppDownloader,
    clean,
)
from bot.telegram import DirectRequest, TelegramDownloader, TelegramTransport
from flows.types import InputKind, UserInput
from storage import media
from storage.crypto import Crypto
from storage.db import Database
from storage.models import Attachment, AttachmentStatus, Channel, Report
from tests.fake_telegram import TOKEN, FakeBotApi
from tests.fakes import FakeGraph, serve
from tests.support import AFTER_REGION, REPORT_PATH, STORY, Phone

GPS_TAG = 0x8825
WA_ID = "6281234567890"


def photo_with_gps() -> bytes:
    image = Image.new("RGB", (40, 20), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "CanaryCam"  # Make
    exif[GPS_TAG] = {1: "S", 2: (6.0, 12.0, 30.0), 3: "E", 4: (106.0, 49.0, 10.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_an_image_loses_its_exif_and_gps_but_keeps_its_pixels() -> None:
    original = photo_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get(GPS_TAG) is not None
    cleaned, content_type = clean(original, "image/jpeg")
    assert content_type == "image/jpeg"
    image = Image.open(io.BytesIO(cleaned))
    assert dict(image.getexif()) == {}
    assert b"CanaryCam" not in cleaned
    assert image.size == (40, 20)
    red, green, _blue = image.getpixel((5, 5))  # type: ignore[misc]
    assert red > 150 > green


def test_a_file_that_claims_to_be_an_image_but_is_not_is_not_kept() -> None:
    with pytest.raises(Unavailable):
        clean(b"not an image at all", "image/png")
    assert clean(b"%PDF-1.7 ...", "application/pdf") == (b"%PDF-1.7 ...", "application/pdf")


@pytest.fixture
def graph() -> Iterator[tuple[FakeGraph, str]]:
    fake = FakeGraph()
    with serve(fake.app()) as base:
        fake.base_url = base
        yield fake, f"{base}/v23.0"


class Told:
    def __init__(self) -> None:
        self.said: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, _source: Source, key: str, params: dict[str, Any]) -> None:
        self.said.append((key, params))


def reach_evidence(phone: Phone) -> None:
    phone.type("halo")
    for choice in REPORT_PATH:
        phone.press(choice)
    phone.type("lampung")
    phone.type("mesuji")
    for choice in AFTER_REGION:
        phone.press(choice)
    phone.type(STORY)
    phone.press("story:done")


def send_file(phone: Phone, data: dict[str, Any], kind: str = "photo") -> None:
    phone.inbox.handle(phone.message(UserInput(InputKind.media, media_kind=kind, data=data)))


def fetcher_for(
    database: Database, crypto: Crypto, downloader: Any, told: Told, max_bytes: int = 1_000_000
) -> MediaFetcher:
    return MediaFetcher(
        database,
        crypto,
        [downloader],
        told,
        config=FetchConfig(max_bytes=max_bytes, retry=timedelta(0)),
        clock=lambda: datetime.now(UTC),
    )


def test_a_whatsapp_photo_is_fetched_cleaned_encrypted_and_listed_on_the_report(
    inbox: Inbox, database: Database, crypto: Crypto, graph: tuple[FakeGraph, str]
) -> None:
    fake, url = graph
    original = photo_with_gps()
    fake.media["m-photo"] = (original, "image/jpeg")
    phone = Phone(inbox, WA_ID, Channel.whatsapp)
    reach_evidence(phone)
    send_file(phone, {"media_id": "m-photo", "mime_type": "image/jpeg", "sha256": ""})
    assert "Diterima (1 berkas)" in phone.outbox()[-1].text
    told = Told()
    fetcher = fetcher_for(database, crypto, WhatsAppDownloader(url, "graph-token"), told)
    assert fetcher.run_once() == 1
    assert fetcher.run_once() == 0
    for choice in (
        "evidence:done",
        "needs:legal",
        "needs:done",
        "contact:anonymous",
        "review:submit",
    ):
        phone.press(choice)
    with database.unit() as session:
        report = session.exec(select(Report)).one()
        attachment = session.exec(select(Attachment)).one()
        assert attachment.report_id == report.id
        assert attachment.status == AttachmentStatus.stored
        assert attachment.source is None
        assert attachment.sha256 == hashlib.sha256(original).hexdigest()
        stored = media.content_of(attachment.id, session=session)
    assert stored is not None
    assert b"CanaryCam" not in stored  # encrypted, and cleaned underneath
    plain = crypto.cipher.decrypt(stored)
    assert dict(Image.open(io.BytesIO(plain)).getexif()) == {}
    assert told.said == []


def test_a_file_over_the_cap_is_not_kept_and_the_reporter_is_told(
    inbox: Inbox, database: Database, crypto: Crypto, graph: tuple[FakeGraph, str]
) -> None:
    fake, url = graph
    fake.media["m-big"] = (b"x" * 5000, "video/mp4")
    phone = Phone(inbox, WA_ID, Channel.whatsapp)
    reach_evidence(phone)
    send_file(phone, {"media_id": "m-big", "mime_type": "video/mp4"}, kind="video")
    told = Told()
    fetcher_for(
        database, crypto, WhatsAppDownloader(url, "graph-token"), told, max_bytes=4000
    ).run_once()
    with database.unit() as session:
        attachment = session.exec(select(Attachment)).one()
        assert attachment.status == AttachmentStatus.dropped
        assert media.content_of(attachment.id, session=session) is None
    assert told.said == [("evidence.too_large", {"limit_mb": 0})]


def test_an_expired_media_id_is_retried_then_given_up_with_a_note(
    inbox: Inbox, database: Database, crypto: Crypto, graph: tuple[FakeGraph, str]
) -> None:
    _, url = graph
    phone = Phone(inbox, WA_ID, Channel.whatsapp)
    reach_evidence(phone)
    send_file(phone, {"media_id": "m-gone", "mime_type": "image/jpeg"})
    told = Told()
    fetcher = fetcher_for(database, crypto, WhatsAppDownloader(url, "graph-token"), told)
    for _ in range(5):
        fetcher.run_once()
    with database.unit() as session:
        attachment = session.exec(select(Attachment)).one()
        assert attachment.status == AttachmentStatus.dropped
        assert attachment.attempts == 4
    assert [key for key, _ in told.said] == ["evidence.unavailable"]


def test_the_reporter_gets_the_note_through_the_outbox(inbox: Inbox) -> None:
    source = Source(
        Channel.whatsapp, "m1", WA_ID, inbox.reporter_key(Channel.whatsapp, WA_ID), "id"
    )
    inbox.notify(source, "evidence.too_large", {"limit_mb": 20})
    said = Phone(inbox, WA_ID, Channel.whatsapp).outbox()[-1].text
    assert "20 MB" in said


def test_a_telegram_photo_is_fetched_with_get_file(
    inbox: Inbox, database: Database, crypto: Crypto
) -> None:
    fake = FakeBotApi()
    original = photo_with_gps()
    fake.files["f-photo"] = original
    with serve(fake.app()) as base:
        transport = TelegramTransport(
            Bot(
                TOKEN,
                base_url=f"{base}/bot",
                base_file_url=f"{base}/file/bot",
                request=DirectRequest(4),
            )
        )
        phone = Phone(inbox, "7770001234", Channel.telegram)
        reach_evidence(phone)
        send_file(phone, {"file_id": "f-photo", "mime_type": "", "size": len(original)})
        fetcher_for(database, crypto, TelegramDownloader(transport), Told()).run_once()
    with database.unit() as session:
        attachment = session.exec(select(Attachment)).one()
        assert attachment.status == AttachmentStatus.stored
        assert attachment.content_type == "image/jpeg"
        assert attachment.sha256 == hashlib.sha256(original).hexdigest()
    assert fake.called("getFile")
