"""The same real-server scenarios on faststream's own ``NatsBroker`` (nats-py) with the
adapters installed: on asyncio the adapted faststream behaves as faststream's own code,
whichever client is underneath.

nats-py runs on asyncio only, so this module runs on asyncio only; the scenarios run on
both backends in test_faststream_on_nats_server.py (through ``anystream.nats.NatsBroker``).
"""

from __future__ import annotations

import pytest
from faststream.nats import NatsBroker

from .test_faststream_on_nats_server import (
    Broker,
    test_a_handler_cancelled_at_stop_leaves_its_message_for_redelivery,
    test_batch_pull_subscriber_gets_the_stream_in_batches,
    test_graceful_stop_of_a_max_workers_subscriber_waits_for_its_handlers,
    test_graceful_stop_waits_for_the_handler_in_flight,
    test_jetstream_request_gets_the_handlers_answer,
    test_jetstream_request_times_out_with_no_answer,
    test_kv_watch_subscriber_sees_each_put,
    test_max_workers_2_handles_two_messages_at_once,
    test_object_storage_watch_subscriber_sees_a_put,
    test_pull_subscriber_consumes_a_stream,
    test_stop_consume_from_a_max_workers_handler_stops_that_subscriber,
    test_stop_consume_from_a_pull_handler_stops_that_subscriber,
    test_stop_ends_a_pull_subscribers_consume_task,
)

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("adapted")]

__all__ = (
    "test_a_handler_cancelled_at_stop_leaves_its_message_for_redelivery",
    "test_batch_pull_subscriber_gets_the_stream_in_batches",
    "test_graceful_stop_of_a_max_workers_subscriber_waits_for_its_handlers",
    "test_graceful_stop_waits_for_the_handler_in_flight",
    "test_jetstream_request_gets_the_handlers_answer",
    "test_jetstream_request_times_out_with_no_answer",
    "test_kv_watch_subscriber_sees_each_put",
    "test_max_workers_2_handles_two_messages_at_once",
    "test_object_storage_watch_subscriber_sees_a_put",
    "test_pull_subscriber_consumes_a_stream",
    "test_stop_consume_from_a_max_workers_handler_stops_that_subscriber",
    "test_stop_consume_from_a_pull_handler_stops_that_subscriber",
    "test_stop_ends_a_pull_subscribers_consume_task",
)


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    return ("asyncio", {})


@pytest.fixture
def broker_class() -> Broker:
    return NatsBroker
