"""WhatsApp's 24-hour window as the sender sees it (CONTRACT §6).

Free-form messages go while the reporter's last message is less than 23 h 30 min old by our own
clock (the margin covers the time a turn and the sender take, and clocks that differ a little).
After that, or when the Graph API answers 131047, a message is held until the reporter writes,
and the approved template telling them that something waits goes once per closed window, not
once per held message. The state lives in ``storage.windows``, under the reporter's pseudonym,
so that every sender process sees the same window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage import windows
from storage.crypto import Hasher
from storage.db import Database
from storage.models import Channel, WindowNotice, utcnow

# Free-form messages go while the reporter wrote less than this long ago (WhatsApp allows 24 h).
OPEN_FOR = timedelta(hours=23, minutes=30)
# A template claim older than this was left by a sender that died; another sender takes it over.
CLAIM_LEASE = timedelta(minutes=2)
# Reporters whose open window a sender remembers (pseudonyms and times only), at most.
REMEMBERED = 50_000


@dataclass(frozen=True)
class Templates:
    """The approved templates to try in turn (the template, then the backup) and their
    language."""

    names: tuple[str, ...] = ()
    language: str = "id"

    @classmethod
    def of(cls, template: str | None, backup: str | None, language: str) -> Templates:
        return cls(tuple(name for name in (template, backup) if name), language)


def is_open(window: windows.Window | None, now: datetime) -> bool:
    """Free-form messages may go: the reporter wrote recently, and nothing since said otherwise
    (a notice exists only in a closed window). Unknown reporters are tried: Graph will say."""
    if window is None:
        return True
    if window.notice is not None or window.last_inbound_at is None:
        return False
    return now - window.last_inbound_at < OPEN_FOR


class Windows:
    """The reporters' windows, addressed as the transport knows them (by their WhatsApp id,
    turned into the pseudonym the inbox keys them by)."""

    def __init__(
        self,
        database: Database,
        hasher: Hasher,
        templates: Templates,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.hasher = hasher
        self.templates = templates
        self.clock = clock
        # When each reporter last wrote, as last read while their window was open. It only
        # moves forward, so while it is recent the window is open without asking the database
        # (a read a message otherwise; Graph still has the last word, with 131047).
        self._wrote: dict[str, datetime] = {}

    def _key(self, address: str) -> str:
        # The inbox keys a WhatsApp reporter by the pseudonym of their id, which is the address.
        return self.hasher.pseudonym(Channel.whatsapp.value, address)

    def closed(self, address: str) -> bool:
        key, now = self._key(address), self.clock()
        wrote = self._wrote.get(key)
        if wrote is not None and now - wrote < OPEN_FOR:
            return False
        with self.database.read() as session:
            window = windows.read_window(key, session=session)
        if not is_open(window, now):
            return True
        if window is not None and window.last_inbound_at is not None:
            self._remember(key, window.last_inbound_at)
        return False

    def wrote(self, key: str) -> None:
        """The reporter (by pseudonym) wrote, and their turn is committed: the window is open
        from now on, as a read would say (the turn cleared any notice)."""
        self._remember(key, self.clock())

    def _remember(self, key: str, wrote: datetime) -> None:
        if len(self._wrote) >= REMEMBERED:
            self._wrote.clear()
        self._wrote[key] = wrote

    def claim(self, address: str) -> bool:
        """True when this sender is to send the template of the reporter's closed window."""
        key, now = self._key(address), self.clock()
        self._wrote.pop(key, None)  # closed, whatever our clock said (Graph's 131047)
        with self.database.unit() as session:
            return windows.claim_notice(key, now, now - CLAIM_LEASE, session=session)

    def settle(self, address: str, notice: WindowNotice | None) -> bool:
        with self.database.unit() as session:
            return windows.settle_notice(self._key(address), notice, self.clock(), session=session)
