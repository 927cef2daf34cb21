"""JetStream messages: acknowledgements and the metadata carried in the reply subject.

A message a consumer delivers has a reply subject such as
``$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``
(or the older form without domain/account). Publishing ``+ACK``, ``-NAK``, ``+WPI`` or
``+TERM`` there acknowledges it. :func:`parse_metadata` reads the subject (pure);
:class:`JsMsg` adds the ack methods to :class:`anystream.nats.Msg`.
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING

from nats.aio.msg import Msg as _NatsPyMsg

from ..subscription import Msg

if TYPE_CHECKING:
    from ..client import Client
from .errors import MsgAlreadyAckdError, NotJSMessageError

__all__ = ("ACK", "NAK", "PROGRESS", "TERM", "JsMsg", "Metadata", "SequencePair", "parse_metadata")

Metadata = _NatsPyMsg.Metadata
"""nats-py's ``Msg.Metadata`` dataclass (reused so both clients hand out the same type)."""
SequencePair = _NatsPyMsg.Metadata.SequencePair

ACK = b"+ACK"
NAK = b"-NAK"
PROGRESS = b"+WPI"
TERM = b"+TERM"

_V1_TOKENS = 9  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
_V2_MIN_TOKENS = 11  # $JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>...


def parse_metadata(reply: str | None) -> Metadata:
    """The JetStream metadata in an ack reply subject; :class:`NotJSMessageError` if none."""
    tokens = reply.split(".") if reply else []
    if len(tokens) < _V1_TOKENS or tokens[0] != "$JS" or tokens[1] != "ACK":
        raise NotJSMessageError(f"not a JetStream message (reply subject {reply!r})")
    domain: str | None = None
    if len(tokens) >= _V2_MIN_TOKENS:
        domain = "" if tokens[2] == "_" else tokens[2]
        tokens = tokens[:2] + tokens[4:]
    elif len(tokens) != _V1_TOKENS:
        raise NotJSMessageError(f"not a JetStream message (reply subject {reply!r})")
    try:
        stamp = datetime.datetime.fromtimestamp(int(tokens[7]) / 1e9, datetime.timezone.utc)
        return Metadata(
            sequence=SequencePair(stream=int(tokens[5]), consumer=int(tokens[6])),
            num_delivered=int(tokens[4]),
            num_pending=int(tokens[8]),
            timestamp=stamp,
            stream=tokens[2],
            consumer=tokens[3],
            domain=domain,
        )
    except ValueError:
        raise NotJSMessageError(f"malformed JetStream reply subject {reply!r}") from None


def nak_payload(delay: float | None) -> bytes:
    """``-NAK``, with a redelivery delay (seconds) if given."""
    if delay is None:
        return NAK
    return NAK + b" " + json.dumps({"delay": int(delay * 1e9)}).encode()


class JsMsg(Msg):
    """A message delivered by a JetStream consumer.

    ``ack``/``nak``/``term`` may be called once between them (a second raises
    :class:`MsgAlreadyAckdError`); ``in_progress`` as often as needed before that.
    """

    __slots__ = ("_ackd", "_metadata")

    _ackd: bool
    _metadata: Metadata | None

    @classmethod
    def of(cls, client: Client, msg: Msg) -> JsMsg:
        """Wrap a plain message received by ``client``'s subscription."""
        js_msg = cls(
            client,
            msg.subject,
            msg.reply,
            msg.data,
            msg.sid,
            msg.header_pairs,
            msg.status,
            msg.description,
        )
        js_msg._ackd = False
        js_msg._metadata = None
        return js_msg

    @property
    def metadata(self) -> Metadata:
        """Stream/consumer sequence, deliveries, pending, timestamp, stream, consumer, domain."""
        if self._metadata is None:
            self._metadata = parse_metadata(self.reply)
        return self._metadata

    @property
    def is_acked(self) -> bool:
        return self._ackd

    def _ack_reply(self) -> str:
        if not self.reply or not self.reply.startswith("$JS.ACK."):
            raise NotJSMessageError(f"message on {self.subject!r} was not delivered by JetStream")
        if self._ackd:
            raise MsgAlreadyAckdError(f"message on {self.subject!r} was already acknowledged")
        return self.reply

    async def _send(self, payload: bytes, *, final: bool = True) -> None:
        reply = self._ack_reply()
        if final:
            self._ackd = True
        assert self._client is not None
        await self._client._acknowledge(reply, payload)

    async def ack(self) -> None:
        """Acknowledge: the message was handled."""
        await self._send(ACK)

    async def ack_sync(self, timeout: float = 1.0) -> JsMsg:
        """Acknowledge and wait until the server confirms it (raises on timeout)."""
        reply = self._ack_reply()
        assert self._client is not None
        await self._client.request(reply, ACK, timeout=timeout)
        self._ackd = True
        return self

    async def nak(self, delay: float | None = None) -> None:
        """Negative ack: redeliver (after ``delay`` seconds if given)."""
        await self._send(nak_payload(delay))

    async def in_progress(self) -> None:
        """Still working on it: resets the server's ack timer (may be sent repeatedly)."""
        await self._send(PROGRESS, final=False)

    async def term(self) -> None:
        """Never redeliver this message."""
        await self._send(TERM)
