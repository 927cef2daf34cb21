"""Contract: what anystream._adapters.faststream assumes about the installed faststream.

One test per assumption, named after it: when a faststream release moves something the
adapters rely on (a class, an attribute, a signature, or the asyncio-bound code they
replace), the failing test says which assumption broke and how. ``install()`` checks the
same assumptions and refuses to patch anything unless all hold.
"""

from __future__ import annotations

import gc

import anyio
import pytest

from anystream._adapters import faststream as adapters
from anystream._adapters._contract import lookup
from anystream.exceptions import FaststreamAdapterError


@pytest.mark.parametrize("assumption", adapters.ASSUMPTIONS, ids=lambda a: a.name)
def test_faststream_still_matches_what_the_adapters_assume(
    assumption: adapters.Assumption,
) -> None:
    why = assumption.broken()
    assert why is None, f"faststream assumption broken: {assumption.name}\n  {why}"


def test_every_patched_attribute_is_covered_by_an_assumption_that_the_class_defines_it() -> None:
    # A patch with no "defines" check would setattr a new attribute silently.
    for patch in adapters.PATCHES.patches:
        cls = lookup(patch.owner)
        assert patch.attr in cls.__dict__, f"{patch.owner} does not define {patch.attr}"


def test_the_assumptions_hold_against_faststreams_own_code_once_installed(adapted: None) -> None:
    # The checks look at the saved originals, not at our replacements.
    assert adapters.is_installed()
    assert adapters.PATCHES.broken() == []


def test_install_is_idempotent(adapted: None) -> None:
    before = {(p.owner, p.attr): lookup(p.owner).__dict__[p.attr] for p in adapters.PATCHES.patches}
    adapters.install()
    adapters.install()
    after = {(p.owner, p.attr): lookup(p.owner).__dict__[p.attr] for p in adapters.PATCHES.patches}
    assert before == after
    assert all(after[(p.owner, p.attr)] is p.replacement for p in adapters.PATCHES.patches)


def test_uninstall_puts_faststreams_own_code_back(adapted: None) -> None:
    adapters.uninstall()
    try:
        for patch in adapters.PATCHES.patches:
            assert lookup(patch.owner).__dict__[patch.attr] is not patch.replacement
        assert not adapters.is_installed()
    finally:
        adapters.install()


def test_install_refuses_naming_the_broken_assumption_and_patches_nothing(
    upstream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faststream._internal.endpoint.subscriber.utils import MultiLock

    async def wait_release(self: MultiLock, timeout: float | None = None) -> None:
        """A release that no longer waits with asyncio.Queue.join()."""

    monkeypatch.setattr(MultiLock, "wait_release", wait_release)
    originals = {
        (p.owner, p.attr): lookup(p.owner).__dict__[p.attr] for p in adapters.PATCHES.patches
    }

    with pytest.raises(FaststreamAdapterError) as raised:
        adapters.install()

    message = str(raised.value)
    assert "MultiLock still counts with an asyncio.Queue and waits with queue.join()" in message
    assert "no longer uses join" in message
    assert "faststream" in message
    assert not adapters.is_installed()
    for patch in adapters.PATCHES.patches:
        assert lookup(patch.owner).__dict__[patch.attr] is originals[(patch.owner, patch.attr)]


def test_install_refuses_when_a_copied_function_changed(
    upstream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faststream.nats.publisher.producer import NatsJSFastProducer

    async def request(self: NatsJSFastProducer, cmd: object) -> None:
        """Some other request, still on an asyncio Future: asyncio.Future()."""

    monkeypatch.setattr(NatsJSFastProducer, "request", request)

    with pytest.raises(FaststreamAdapterError, match=r"is the 0\.7\.8 code") as raised:
        adapters.install()
    assert "review the copy" in str(raised.value)


def test_install_refuses_when_a_class_moved(
    upstream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faststream._internal.endpoint.subscriber.mixins as mixins

    monkeypatch.delattr(mixins, "TasksMixin")

    with pytest.raises(FaststreamAdapterError, match=r"TasksMixin.*missing"):
        adapters.install()


# Why each patch exists: faststream's own code still fails on trio. When one of these
# fails, faststream fixed that code upstream: the patch can go.


def test_faststreams_own_multilock_still_cannot_wait_on_trio(upstream: None) -> None:
    from faststream._internal.endpoint.subscriber.utils import MultiLock

    async def stop_with_a_message_in_flight() -> None:
        lock = MultiLock()
        lock.acquire()
        await lock.wait_release(timeout=0.01)

    with pytest.raises(AttributeError):  # asyncio.Queue.join() looks for its loop
        anyio.run(stop_with_a_message_in_flight, backend="trio")


def test_faststreams_own_add_task_still_needs_an_asyncio_loop(upstream: None) -> None:
    from faststream.nats import NatsBroker, TestNatsBroker

    async def start_a_task() -> None:
        broker = NatsBroker()
        subscriber = broker.subscriber("contract", max_workers=2)

        @subscriber
        async def handler(body: str) -> None: ...

        async with TestNatsBroker(broker):
            subscriber.add_task(anyio.sleep_forever)

    # upstream makes the coroutine, then fails to schedule it: it is never awaited
    with pytest.warns(RuntimeWarning, match="never awaited"):
        with pytest.raises(RuntimeError, match="no running event loop"):
            anyio.run(start_a_task, backend="trio")
        gc.collect()


def test_faststreams_own_test_client_still_fails_on_trio(upstream: None) -> None:
    from faststream.exceptions import SetupError
    from faststream.nats import NatsBroker, TestNatsBroker

    async def publish_in_memory() -> None:
        broker = NatsBroker()

        @broker.subscriber("contract")
        async def handler(body: str) -> None: ...

        async with TestNatsBroker(broker) as test_broker:
            await test_broker.publish("hello", "contract")

    with pytest.raises(SetupError, match="only with TestClient"):
        anyio.run(publish_in_memory, backend="trio")
