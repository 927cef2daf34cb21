"""The app the cluster fault suite runs: JetStream work shared by every instance.

Two instances (``anystream run --workers 2``, one on trio and one on asyncio) of this file
share the work through a durable pull consumer, a push consumer with a deliver group and
a core-NATS queue group, on a 3-node cluster. Configured by environment variables:

- ``NATS_URL``: the cluster's client URLs, comma-separated;
- ``INSTANCE``: a name for this instance (its NATS connections are named ``<INSTANCE>:<pid>``);
- ``RECORD_FILE``: one line per handled message, ``<kind> <id> <instance> <pid> <time>``
  (``O_APPEND`` writes: every worker of every instance shares it);
- ``EFFECTS_DIR``: the idempotency store shared by the instances (see ``effect_once``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage, PullSub

from anystream.asgi import AsgiFastStream
from anystream.broker import DEFAULT_REDELIVERY_MEMORY
from anystream.observability import make_liveness_asgi, make_readiness_asgi

NATS_URL = os.environ["NATS_URL"]
RECORD_FILE = os.environ["RECORD_FILE"]
EFFECTS_DIR = Path(os.environ["EFFECTS_DIR"])
INSTANCE = os.environ.get("INSTANCE", "app")

broker = NatsBroker(
    NATS_URL,  # "nats://a:4222,nats://b:4222,nats://c:4222": every node
    name=f"{INSTANCE}:{os.getpid()}",
    connect_timeout=1,
    reconnect_time_wait=0.2,  # type: ignore[arg-type]
    max_reconnect_attempts=-1,
)

STREAM = JStream("CLUSTER", subjects=["cl.js.*"], num_replicas=3)


def record(kind: str, ident: str) -> None:
    fd = os.open(RECORD_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{kind} {ident} {INSTANCE} {os.getpid()} {time.time():.3f}\n".encode())
    finally:
        os.close(fd)


def effect_once(key: str) -> bool:
    """Claim ``key`` in the idempotency store shared by every instance; False if taken.

    ``O_CREAT | O_EXCL`` is atomic, as a unique key in a database would be: only one
    process ever gets to apply the effect of a given message.
    """
    try:
        os.close(os.open(EFFECTS_DIR / key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        return False
    return True


def handle(kind: str, body: str, msg: NatsMessage) -> None:
    # The publisher's Nats-Msg-Id is the idempotency key.
    key = msg.headers.get("Nats-Msg-Id", body)
    record(kind, key)  # every delivery that reached a handler
    if effect_once(key):
        record("effect", key)  # the effect, applied once across processes


@broker.subscriber(
    "cl.js.pull",
    stream=STREAM,
    durable="cl-pull",
    pull_sub=PullSub(batch_size=10, timeout=1.0),
    config=ConsumerConfig(ack_wait=5),
)
async def on_pull(body: str, msg: NatsMessage) -> None:
    handle("pull", body, msg)


@broker.subscriber(
    "cl.js.push",
    stream=STREAM,
    durable="cl-push",
    queue="cl-push",  # the deliver group (nats-py too wants it to equal the durable)
    config=ConsumerConfig(ack_wait=5),
)
async def on_push(body: str, msg: NatsMessage) -> None:
    handle("push", body, msg)


@broker.subscriber("cl.core", queue="cl-core")
async def on_core(body: str) -> None:
    record("core", body)


app = AsgiFastStream(
    broker,
    asgi_routes=[
        ("/health/live", make_liveness_asgi()),
        ("/health/ready", make_readiness_asgi(broker, timeout=1.0)),
    ],
    # Redeliveries of messages this process already acked are acked, not re-run.
    redelivery_memory=DEFAULT_REDELIVERY_MEMORY,
)
