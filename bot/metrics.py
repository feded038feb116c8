"""Prometheus metrics of the conversation side (the contract's names, CONTRACT §3)."""

from __future__ import annotations

from prometheus_client import Counter

CHANNELS = ("telegram", "whatsapp", "console")
RESULTS = ("sent", "retry", "failed", "held")
# What went out: a message of the conversation or an officer's, or the WhatsApp template that
# tells a reporter outside the 24-hour window that a message waits.
MESSAGE = "message"
TEMPLATE = "template"

inbound_messages = Counter(
    "lapor_inbound_messages", "Deliveries recorded from a channel", ["channel"]
)
turns = Counter("lapor_turns", "Conversation turns processed", ["channel"])
reports_submitted = Counter("lapor_reports_submitted", "Reports submitted by reporters")
outbound_messages = Counter(
    "lapor_outbound_messages",
    "Outbound delivery attempts by result",
    ["channel", "result", "kind"],
)

# Each channel's counters, looked up once: ``labels`` costs four times the increment.
INBOUND = {channel: inbound_messages.labels(channel=channel) for channel in CHANNELS}
TURNS = {channel: turns.labels(channel=channel) for channel in CHANNELS}
for _channel in CHANNELS:
    for _result in RESULTS:
        outbound_messages.labels(channel=_channel, result=_result, kind=MESSAGE)
for _result in ("sent", "retry", "failed"):
    outbound_messages.labels(channel="whatsapp", result=_result, kind=TEMPLATE)

ALERT_CHANNELS = ("email", "telegram")
ALERT_RESULTS = ("sent", "retry", "failed")
alerts = Counter("lapor_alerts", "Officer alert delivery attempts by result", ["channel", "result"])
for _channel in ALERT_CHANNELS:
    for _result in ALERT_RESULTS:
        alerts.labels(channel=_channel, result=_result)
