"""faststream's asyncio-only internals on the NATS broker's path, rewritten on anyio.

faststream runs on anyio almost everywhere, so its NATS broker runs on trio once its client
does (``anystream.nats.NatsBroker``), except for five places that are asyncio-only; each
failed when ``faststream.nats`` was run on trio. Each is rewritten here on anyio, behaving
as before on asyncio, and written so it could be proposed upstream as it is (each docstring
names the upstream code it replaces and why). One deliberate difference on both backends:
``TasksMixin.stop`` waits (bounded) for the tasks it cancels to end.

====================================================  ====================================
faststream (0.7.8)                                     on trio, before
====================================================  ====================================
``TasksMixin.add_task`` / ``stop``                     ``asyncio.create_task``: no running
(``_internal/endpoint/subscriber/mixins.py``)          event loop (pull, batch, KV/OS watch,
                                                       ``max_workers > 1`` subscribers)
``MultiLock`` (``.../subscriber/utils.py``)            ``asyncio.Queue.join()``: graceful stop
                                                       with a handler in flight crashed
``_AcknowledgementMiddleware.__aexit__``               ``isinstance(exc, asyncio.CancelledError)``:
(``middlewares/acknowledgement/middleware.py``)        a cancelled handler was NAKed/TERMed
``HandlerCallWrapper.trigger`` / ``refresh``           ``asyncio.Future``: ``TestNatsBroker``
(``_internal/endpoint/call_wrapper.py``)               raised ``SetupError``
``NatsJSFastProducer.request``                         ``asyncio.Future``: JetStream
(``nats/publisher/producer.py``)                       ``broker.request(..., stream=...)``
====================================================  ====================================

More patches cut faststream's avoidable per-message costs, changing nothing a user
sees (docs/performance.md gives each one's measured effect):

====================================================  ====================================
faststream (0.7.8)                                     per message, before
====================================================  ====================================
``set_logger_fmt`` (``_internal/logger/logging.py``)   ``strftime`` per log line, the stream
                                                       flushed (a ``write`` call) per line
``RealLoggerObject.log``                               a ``LogRecord`` per line, also when
(``_internal/logger/logger_proxy.py``)                 only faststream's handler reads it
``LogicSubscriber.subject``                            a new ``Address`` (a per-character
(``nats/subscriber/usecases/basic.py``)                scan of the subject) per log context
``StreamMessage.__init__``                             ``str(uuid.uuid4())`` correlation id
(``message/message.py``)                               through a ``UUID`` object
``ConcurrentMixin`` (``max_workers``)                  a task and a semaphore round per
(``_internal/endpoint/subscriber/mixins.py``)          message
``CriticalLogMiddleware.__call__``                     a logging middleware object per
(``middlewares/logging.py``)                           message, also with ``logger=None``
``SubscriberUsecase.process_message``                  an ``AsyncExitStack`` and an
(``_internal/endpoint/subscriber/usecase.py``)         ``ExitStack`` per message, a
                                                       ``ContextScope`` per scope, anystream's
                                                       shared middlewares entered and wrapped
``_AcknowledgementMiddleware.__aexit__``               an ack through two helper coroutines
``decode_message`` (``message/utils.py``, the NATS     an ``Enum`` call per content type,
parser's decoder)                                      ``json.detect_encoding`` per body
fast_depends' ``CallModel.asolve``                     a generator driven in two steps, the
(``core/model.py``)                                    dependency loops, ``inspect`` per call
fast_depends' ``_wrap_inject`` (``use.py``)            an ``AsyncExitStack`` per handler call
fast_depends' ``run_async`` (``utils.py``)             a ``Callable[P, Awaitable[T]]`` alias
                                                       built per handler call
====================================================  ====================================

:func:`install` patches faststream's classes in place (idempotent). Before it patches
anything it checks every :data:`ASSUMPTIONS` entry (the class and attribute are where they
were, the signatures callers use, the code replaced is still the asyncio-bound code this
package was written against) and raises :class:`FaststreamAdapterError` naming each broken
one: a faststream release that moves them makes it refuse, never degrade silently. The
contract tests in ``tests/adapters/`` check the same assumptions one by one.

One module per concern, each with the replacements, the :data:`ASSUMPTIONS` they rest on
and their :data:`PATCHES`: :mod:`._tasks` (``TasksMixin``, ``MultiLock``), :mod:`._ack`
(the acknowledgement middleware), :mod:`._testing` (``HandlerCallWrapper``),
:mod:`._js_producer` (``NatsJSFastProducer.request``), :mod:`._per_message` (the
per-message patches, with the log handler of :mod:`._logging`), :mod:`._concurrent`
(``ConcurrentMixin``'s worker pool), :mod:`._pipeline`
(``process_message``, the logging middleware's two lines), :mod:`._calls` (fast_depends'
handler call: ``CallModel.asolve``, ``_wrap_inject``, ``run_async``), :mod:`._decode`
(``decode_message``); :mod:`._install` checks them all and patches.

Two more modules patch nothing: they are the only place the rest of anystream reads or
replaces faststream's private names. :mod:`._application`: the application's hooks, log,
extra options and ``_internal`` names (``EMPTY``, ``catch_startup_validation_error``, ...)
``AsgiFastStream`` is built on, and two attributes of faststream's ASGI helpers;
:mod:`._broker`: a broker's ``_connect`` hook, ``_connection``, ``_connection_kwargs``,
its config's producers, ``find_test_broker``. Their assumptions (:data:`CONTRACTS`) are
checked by ``tests/adapters/test_contracts.py``, one test each.
"""

from __future__ import annotations

from .._contract import Assumption
from . import _application, _broker
from ._application import (
    DEFAULT_LOGGER,
    EMPTY,
    Application,
    StartAbleApplication,
    catch_startup_validation_error,
    copy_hooks,
    handler_function,
    hooks,
    log,
    run_extra_options,
    set_query_params,
    set_run_extra_options,
)
from ._broker import (
    BrokerUsecase,
    connect_with,
    connection,
    connection_kwargs,
    connects_with,
    find_test_broker,
    swap_producers,
)
from ._install import (
    ASSUMPTIONS,
    PATCHES,
    FaststreamAdapterError,
    install,
    is_installed,
    uninstall,
)
from ._middleware import PerMessage, Shared
from ._per_message import uuid4_text
from ._tasks import TASK_STOP_TIMEOUT, SupervisedTask
from ._testing import CallFuture

__all__ = (
    "ASSUMPTIONS",
    "CONTRACTS",
    "DEFAULT_LOGGER",
    "EMPTY",
    "PATCHES",
    "TASK_STOP_TIMEOUT",
    "Application",
    "Assumption",
    "BrokerUsecase",
    "CallFuture",
    "FaststreamAdapterError",
    "PerMessage",
    "Shared",
    "StartAbleApplication",
    "SupervisedTask",
    "catch_startup_validation_error",
    "connect_with",
    "connection",
    "connection_kwargs",
    "connects_with",
    "copy_hooks",
    "find_test_broker",
    "handler_function",
    "hooks",
    "install",
    "is_installed",
    "log",
    "run_extra_options",
    "set_query_params",
    "set_run_extra_options",
    "swap_producers",
    "uninstall",
    "uuid4_text",
)

#: What the rest of anystream assumes of faststream's private names (not patched; the
#: patches' own assumptions are :data:`ASSUMPTIONS`, checked by :func:`install`).
CONTRACTS: tuple[Assumption, ...] = _application.ASSUMPTIONS + _broker.ASSUMPTIONS
