"""Where a consumed message's time goes: a py-spy profile of ``consume.py`` in parts.

``python benchmarks/consume.py --runs 1 --settings default,nolog --modes core --py-spy DIR``
leaves one raw (collapsed-stack) py-spy profile per run in ``DIR``; this sorts each sample
of the consuming process into the parts of a message (the table of
``docs/performance.md``)::

    python benchmarks/profile_parts.py DIR/*.raw

A sample goes to the part named by the frame nearest the top of its stack that a rule
below matches; a sample that reaches one of faststream's pipeline frames first is
faststream's scaffolding. Start-up (imports) and other threads (the access log's flusher,
which sleeps) are left out. Shares are of the samples left; with a few hundred samples per
profile, a part's share moves by a few points between runs.
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

#: (part, a frame that belongs to it), checked from the top of the stack down.
RULES: tuple[tuple[str, str], ...] = (
    (
        "the two access-log lines",
        r"(logging_middleware_consume_scope|logging_middleware_aexit|_log|real_logger_log"
        r"|write_directly|_LoggingMiddleware\.|critical_log_call|RealLoggerObject|Logger\.)",
    ),
    (
        "calling the handler: fast_depends + pydantic",
        r"(wrap_inject|_solve_flat|asolve|_PydanticSerializer|BaseModel|CallModel"
        r"|_is_coroutine_callable|_returns_none|_child\.<locals>\.h )",
    ),
    ("JSON decode of the body", r"(decode_message|_json |StreamMessage\.decode)"),
    (
        "parsing: StreamMessage, its correlation id",
        r"(HandlerItem\.is_suitable|NatsParser\.parse_message|StreamMessage\.__init__"
        r"|uuid4_text|_uuid4_texts)",
    ),
    (
        "acknowledgement",
        r"(ack_middleware_aexit|_AcknowledgementMiddleware\.__init__"
        r"|AcknowledgementMiddleware\.__call__|NatsMessage\.ack|StreamMessage\.ack)",
    ),
    ("context values (set, reset)", r"ContextRepo\.(set_local|reset_local|get_local)"),
    (
        "the log context (subject)",
        r"(CoreSubscriber\.get_log_context|_subscriber_subject|LogicSubscriber\.build_log_context)",
    ),
    ("anystream's time slicer", r"TimeSlicer\."),
)
SCAFFOLDING = (
    "faststream's scaffolding: process_message, middleware frames, HandlerItem.call, ...",
    r"(process_message|_enter|_handle|HandlerItem\.call|_AcknowledgementMiddleware\.consume_scope"
    r"|HandlerCallWrapper|_unwrap_message_to_fast_depends_decorator|SubscriberUsecase)",
)
HANDOVER = (
    "the NATS client handing the message over (compat Msg, callback loop)",
    r"(Client\.subscribe\.<locals>\.native_cb|Subscription\._run_callback)",
)
READER = "the NATS reader and parser"
LOOP = "the event loop, other"


def parts(path: Path) -> collections.Counter[str]:
    """Samples per part of one raw py-spy profile."""
    counts: collections.Counter[str] = collections.Counter()
    rules = [(name, re.compile(rx)) for name, rx in (*RULES, SCAFFOLDING, HANDOVER)]
    for line in path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        frames = stack.split(";")
        if frames[0].startswith("Thread._bootstrap") or any("importlib" in f for f in frames):
            continue
        part = None
        for frame in reversed(frames):
            part = next((name for name, rx in rules if rx.match(frame)), None)
            if part is not None:
                break
        if part is None:
            part = READER if any(f.startswith("Link._reader") for f in frames) else LOOP
        counts[part] += int(number)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profiles", nargs="+", type=Path, help="raw py-spy profiles")
    args = parser.parse_args()
    for path in args.profiles:
        counts = parts(path)
        total = sum(counts.values())
        print(f"\n{path.name}: {total} samples")
        for name, count in counts.most_common():
            print(f"{100 * count / total:5.1f} %  {name}")


if __name__ == "__main__":
    main()
