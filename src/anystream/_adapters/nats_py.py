"""nats-py's internals that ``anystream.nats.compat`` builds its nats-py-shaped facade on.

The facade hands faststream (and any nats-py code) nats-py's own classes over
anystream's client, so nats-py's code runs unchanged on it:

- messages are ``nats.aio.msg.Msg`` (a subclass), built with the private dataclass fields
  ``_client`` (the facade: nats-py's ``ack``/``nak``/``term``/``in_progress``/``respond``
  only call its ``publish``; the acks with the reply subject and a payload only, which
  the facade recognises to send them as deferred acks) and ``_sid`` (:func:`new_msg`);
- ``compat.JetStreamContext`` subclasses nats-py's and reads the API prefix (domain
  applied) nats-py computed into ``_prefix`` (:func:`js_api_prefix`);
- JetStream management is nats-py's ``JetStreamManager`` over the facade: it sends every
  API request through ``self._nc.request``;
- a message acted on through nats-py's ack methods has its private ``_ackd`` flag set
  (``is_acked``), which anystream's redelivery guard reads on any raw message
  (:func:`acted_on`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from ._contract import Assumption, Broken, all_of, source_has, uses

__all__ = ("ASSUMPTIONS", "acted_on", "js_api_prefix", "new_msg")

M = TypeVar("M")

_MSG = "nats.aio.msg:Msg"
_JS_CONTEXT = "nats.js.client:JetStreamContext"
_JS_MANAGER = "nats.js.manager:JetStreamManager"


def new_msg(
    cls: type[M],
    client: Any,
    *,
    subject: str,
    reply: str,
    data: bytes,
    headers: dict[str, str] | None,
    sid: int | None,
) -> M:
    """A ``nats.aio.msg.Msg`` (or subclass ``cls``) received by ``client`` on ``sid``."""
    return cls(  # type: ignore[call-arg]
        _client=client,
        subject=subject,
        reply=reply,
        data=data,
        headers=headers,
        _sid=sid,
    )


def js_api_prefix(js: Any) -> str:
    """The JetStream API prefix a nats-py ``JetStreamContext`` uses (domain applied)."""
    prefix: str = js._prefix
    return prefix


def acted_on(raw_message: Any) -> bool:
    """Whether a nats-py message was acked, NAKed or termed through its own methods.

    ``False`` for anything that is not such a message.
    """
    return bool(getattr(raw_message, "_ackd", False))


def _msg_takes_client_and_sid() -> None:
    from nats.aio.msg import Msg

    if not dataclasses.is_dataclass(Msg):
        raise Broken("nats.aio.msg.Msg is no longer a dataclass")
    fields = {f.name for f in dataclasses.fields(Msg)}
    missing = {"_client", "_sid", "subject", "reply", "data", "headers"} - fields
    if missing:
        raise Broken(f"nats.aio.msg.Msg has no field {', '.join(sorted(missing))}")


def _acks_publish_through_the_client() -> None:
    import anyio
    from nats.aio.msg import Msg

    calls: list[tuple[str, bytes, dict[str, object]]] = []

    class Recorder:
        async def publish(self, subject: str, payload: bytes = b"", **kwargs: object) -> None:
            calls.append((subject, payload, kwargs))

    reply = "$JS.ACK.S.C.1.5.5.1700000000000000000.0"
    for method, expected in (
        ("ack", b""),
        ("nak", b"-NAK"),
        ("term", b"+TERM"),
        ("in_progress", b"+WPI"),
    ):
        msg = new_msg(Msg, Recorder(), subject="s", reply=reply, data=b"", headers=None, sid=1)
        anyio.run(getattr(msg, method))
        if not calls or calls[-1] != (reply, expected, {}):
            raise Broken(
                f"Msg.{method}() published {calls[-1:]}, expected {(reply, expected, {})}"
                " (the facade defers a publish to $JS.ACK.* without reply or headers)"
            )
        if method != "in_progress" and not (msg.is_acked and acted_on(msg)):
            raise Broken(f"Msg.{method}() no longer sets _ackd (is_acked)")


def _js_context_prefix() -> None:
    from nats.js import JetStreamContext

    js = JetStreamContext(object(), prefix="$JS.API", domain="hub", timeout=3)  # type: ignore[arg-type]
    found = getattr(js, "_prefix", None)
    if found != "$JS.hub.API":
        raise Broken(f"JetStreamContext(domain='hub')._prefix is {found!r}, expected '$JS.hub.API'")


#: What this module and the facade assume (tests/adapters/test_contracts.py).
ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "nats.aio.msg.Msg is a dataclass taking its client and subscription id as the "
        "private fields _client and _sid",
        _msg_takes_client_and_sid,
    ),
    Assumption(
        "Msg.ack/nak/term/in_progress publish +ACK/-NAK/+TERM/+WPI to the reply subject "
        "through self._client.publish only (no reply subject, no headers), and "
        "ack/nak/term set _ackd (is_acked)",
        all_of(
            *(uses(_MSG, name, "_client", "publish", "_ackd") for name in ("ack", "nak", "term")),
            uses(_MSG, "in_progress", "_client", "publish"),
            uses(_MSG, "respond", "_client", "publish"),
            uses(_MSG, "is_acked", "_ackd"),
            _acks_publish_through_the_client,
        ),
    ),
    Assumption(
        "JetStreamContext keeps its API prefix, domain applied, in _prefix",
        _js_context_prefix,
    ),
    Assumption(
        "JetStreamManager sends every JetStream API request through self._nc.request",
        all_of(
            source_has(_JS_MANAGER, "_api_request", "self._nc.request("),
            uses(_JS_MANAGER, "__init__", "_nc", "_prefix", "_timeout"),
        ),
    ),
)
