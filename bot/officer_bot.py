"""The officers' Telegram bot: links an officer's chat to their account for alerts.

A bot of its own (``LAPOR_OFFICER_TELEGRAM_TOKEN``), never the reporters': a reporter can never
write into an officer's chat, and an officer's chat never sits beside reporters' chats. It knows
two commands: ``/start CODE`` (the one-time code the console shows) and ``/stop``. The chat id is
stored encrypted, and found again only by its keyed hash; it is never logged. Replies are in
Indonesian, the officers' language.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from datetime import datetime

from telegram import Update

from bot.messages import OutboundMessage
from bot.telegram import TelegramTransport
from storage import officer_contacts
from storage.crypto import Crypto
from storage.db import Database
from storage.receipts import ALPHABET

log = logging.getLogger("lapor.officer_bot")

CODE_LENGTH = 10  # 50 random bits, for ten minutes, once
LINKED = (
    "Terhubung. Akun {username} di Lapor Aman akan menerima pemberitahuan laporan mendesak di "
    "obrolan ini selama Anda piket. Kirim /stop untuk berhenti."
)
BAD_CODE = (
    "Maaf, kode itu tidak berlaku (mungkin sudah dipakai atau lewat 10 menit). Buka halaman "
    "Pemberitahuan di konsol Lapor Aman untuk kode baru, lalu kirim /start KODE."
)
HELLO = (
    "Ini bot pemberitahuan petugas Lapor Aman. Buka halaman Pemberitahuan di konsol, lalu kirim "
    "/start KODE dengan kode yang tampil di sana."
)
STOPPED = "Obrolan ini tidak lagi menerima pemberitahuan Lapor Aman."
NOT_LINKED = "Obrolan ini belum terhubung ke akun mana pun."


def normalise_code(text: str) -> str:
    return "".join(text.split()).replace("-", "").upper()[:32]


class OfficerBot:
    def __init__(
        self,
        database: Database,
        crypto: Crypto,
        transport: TelegramTransport,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.database = database
        self.crypto = crypto
        self.transport = transport
        self.clock = clock
        self._username: str | None = None
        self._lock = threading.Lock()

    def username(self) -> str:
        """The bot's username, from ``getMe`` once (for the ``t.me`` link)."""
        with self._lock:
            if self._username is None:
                me = self.transport.call(self.transport.bot.get_me())
                self._username = me.username or ""
            return self._username

    def new_link_code(self, officer_id: int) -> str:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        with self.database.unit() as session:
            officer_contacts.issue_link_code(
                officer_id, self._code_hash(code), self.clock(), session=session
            )
        return code

    def link(self, code: str) -> str:
        return f"https://t.me/{self.username()}?start={code}"

    def _code_hash(self, code: str) -> str:
        return self.crypto.hasher.pseudonym("officer-link", normalise_code(code))

    def _chat_key(self, chat_id: int) -> str:
        return self.crypto.hasher.pseudonym("officer-telegram", str(chat_id))

    def answer(self, chat_id: int, text: str) -> str:
        """What the bot says to one message in a private chat (and does: link, unlink)."""
        command, _, argument = text.strip().partition(" ")
        command = command.lower().split("@")[0]
        now = self.clock()
        if command == "/start" and argument.strip():
            with self.database.unit() as session:
                officer = officer_contacts.redeem_link_code(
                    self._code_hash(argument),
                    self.crypto.cipher.encrypt_text(str(chat_id)),
                    self._chat_key(chat_id),
                    now,
                    session=session,
                )
            if officer is None:
                log.info("link code refused", extra={"event": "officer_link_refused"})
                return BAD_CODE
            log.info("officer chat linked", extra={"event": "officer_linked"})
            return LINKED.format(username=officer.username)
        if command == "/stop":
            with self.database.unit() as session:
                gone = officer_contacts.unlink_chat(self._chat_key(chat_id), now, session=session)
            if gone:
                log.info("officer chat unlinked", extra={"event": "officer_unlinked"})
            return STOPPED if gone else NOT_LINKED
        return HELLO

    def take(self, update: Update) -> None:
        """One update (webhook or polling): private text messages get an answer, the rest is
        ignored."""
        message = update.message
        if message is None or message.chat.type != "private" or not message.text:
            return
        reply = self.answer(message.chat.id, message.text)
        outcome = self.transport.send(str(message.chat.id), OutboundMessage(text=reply), 0)
        if outcome.error:
            log.warning(
                "officer bot reply failed",
                extra={"event": "officer_reply_failed", "error_type": outcome.error},
            )
