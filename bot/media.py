"""Evidence files: fetched from the platform after the turn (a download never holds the database),
capped in size, images re-encoded without their metadata (EXIF, GPS), stored encrypted.

The turn records a pending attachment with where to fetch it (encrypted); the fetcher leases
pending attachments (``SKIP LOCKED``), downloads, cleans and stores them, and tells the reporter
when a file was too large or could not be fetched.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError

from storage import media as media_store
from storage.crypto import Crypto
from storage.db import Database
from storage.models import Channel

log = logging.getLogger("lapor.media")

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
CLEANED_IMAGES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


class TooLarge(Exception):
    """The file is over the configured cap; it is not downloaded (further)."""


class Unavailable(Exception):
    """The platform would not give the file (expired, gone, or a network failure)."""


@dataclass(frozen=True)
class Source:
    """Where a pending attachment comes from, and where to tell the reporter about it."""

    channel: Channel
    ref: str  # WhatsApp media id, Telegram file id
    address: str
    reporter_key: str
    locale: str

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "channel": self.channel.value,
                "ref": self.ref,
                "address": self.address,
                "key": self.reporter_key,
                "locale": self.locale,
            }
        ).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Source:
        data = json.loads(raw)
        return cls(
            Channel(data["channel"]),
            str(data["ref"]),
            str(data["address"]),
            str(data["key"]),
            str(data["locale"]),
        )


class Downloader(Protocol):
    channel: Channel

    def download(self, ref: str, max_bytes: int) -> tuple[bytes, str]:
        """The file's bytes and content type; :class:`TooLarge` or :class:`Unavailable`."""
        ...


def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class WhatsAppDownloader:
    """Graph API: ``GET /<media id>`` gives a URL valid for 5 minutes, fetched with the token."""

    channel = Channel.whatsapp

    def __init__(self, api_url: str, access_token: str, client: httpx.Client | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {access_token}"}
        self.client = client or httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))

    def download(self, ref: str, max_bytes: int) -> tuple[bytes, str]:
        try:
            info = self.client.get(f"{self.api_url}/{ref}", headers=self.headers)
            if not info.is_success:
                raise Unavailable(f"graph:{info.status_code}")
            meta = info.json()
            size = meta.get("file_size")
            if isinstance(size, int) and size > max_bytes:
                raise TooLarge
            with self.client.stream("GET", str(meta["url"]), headers=self.headers) as response:
                if not response.is_success:
                    raise Unavailable(f"media:{response.status_code}")
                content = read_capped(response, max_bytes)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise Unavailable(type(exc).__name__) from None
        return content, str(meta.get("mime_type") or "application/octet-stream")


def clean(content: bytes, content_type: str) -> tuple[bytes, str]:
    """Images re-encoded from their pixels alone, so no EXIF, GPS or other metadata survives;
    other files as they came (their content type says so on the report)."""
    base = content_type.split(";", maxsplit=1)[0].strip().lower()
    target = CLEANED_IMAGES.get(base)
    if target is None:
        return content, base or "application/octet-stream"
    try:
        with Image.open(io.BytesIO(content)) as original:
            upright = ImageOps.exif_transpose(original)  # keep how it looked, not the tags
            mode = "RGB" if target == "JPEG" else upright.mode
            pixels = upright.convert(mode)
            bare = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    except (UnidentifiedImageError, OSError, ValueError):
        # Not really an image: keep nothing that could carry hidden data.
        raise Unavailable("not an image") from None
    out = io.BytesIO()
    bare.save(out, format=target)
    return out.getvalue(), base


@dataclass(frozen=True)
class FetchConfig:
    max_bytes: int = DEFAULT_MAX_BYTES
    attempts: int = 5
    retry: timedelta = timedelta(seconds=30)
    lease: timedelta = timedelta(minutes=5)


class MediaFetcher:
    def __init__(
        self,
        database: Database,
        crypto: Crypto,
        downloaders: list[Downloader],
        notify: Callable[[Source, str, dict[str, Any]], None],
        *,
        config: FetchConfig | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        self.database = database
        self.crypto = crypto
        self.downloaders = {downloader.channel: downloader for downloader in downloaders}
        self.notify = notify
        self.config = config or FetchConfig()
        self.clock = clock

    def run_once(self) -> int:
        config, cipher = self.config, self.crypto.cipher
        with self.database.unit() as session:
            due = media_store.claim_pending(self.clock(), config.lease, limit=10, session=session)
            work = [(row.id, row.source, row.attempts) for row in due]
        for attachment_id, source_bytes, attempts in work:
            if source_bytes is None:
                continue
            source = Source.from_bytes(cipher.decrypt(source_bytes))
            self._fetch(attachment_id, source, attempts)
        return len(work)

    def _fetch(self, attachment_id: str, source: Source, attempts: int) -> None:
        downloader = self.downloaders.get(source.channel)
        try:
            if downloader is None:
                raise Unavailable("no downloader")
            raw, content_type = downloader.download(source.ref, self.config.max_bytes)
            content, content_type = clean(raw, content_type)
        except TooLarge:
            self._drop(attachment_id, source, "evidence.too_large")
            return
        except Unavailable as exc:
            if attempts + 1 >= self.config.attempts:
                self._drop(attachment_id, source, "evidence.unavailable")
                return
            with self.database.unit() as session:
                media_store.retry(
                    attachment_id, self.clock() + self.config.retry, str(exc), session=session
                )
            return
        with self.database.unit() as session:
            media_store.store(
                attachment_id,
                self.crypto.cipher.encrypt(content),
                size=len(content),
                content_type=content_type,
                sha256=hashlib.sha256(raw).hexdigest(),
                session=session,
            )

    def _drop(self, attachment_id: str, source: Source, reason: str) -> None:
        with self.database.unit() as session:
            media_store.drop(attachment_id, reason, session=session)
        log.info("evidence not kept", extra={"event": "evidence_dropped", "result": reason})
        self.notify(source, reason, {"limit_mb": self.config.max_bytes // (1024 * 1024)})
