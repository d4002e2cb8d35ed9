"""The coalescing event queue: batches, never loses, never hands out work twice."""

from __future__ import annotations

import threading
import time

from pyodo_tasks.dev.events import Event, EventQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pending_events_come_out_as_one_batch_in_arrival_order() -> None:
    queue = EventQueue()
    queue.put(Event("spec", generation=2))
    queue.put(Event("pod", "modified pod/a"))
    queue.put(Event("spec", generation=3))
    assert queue.get(0) == [
        Event("spec", generation=2),
        Event("pod", "modified pod/a"),
        Event("spec", generation=3),
    ]
    assert queue.get(0) == []


def test_equal_events_are_coalesced() -> None:
    queue = EventQueue()
    for _ in range(20):
        queue.put(Event("pod", "modified pod/a"))
    assert queue.get(0) == [Event("pod", "modified pod/a")]


def test_events_put_while_a_batch_is_processed_form_the_next_batch() -> None:
    queue = EventQueue()
    queue.put(Event("start"))
    first = queue.get(0)
    # "processing" the first batch: two more events arrive meanwhile
    queue.put(Event("spec", generation=1))
    queue.put(Event("pod", "deleted pod/a"))
    assert first == [Event("start")]
    assert queue.get(0) == [Event("spec", generation=1), Event("pod", "deleted pod/a")]


def test_get_waits_at_most_its_timeout() -> None:
    queue = EventQueue()
    started = time.monotonic()
    assert queue.get(0.05) == []
    assert 0.04 <= time.monotonic() - started < 1.0


def test_a_put_from_another_thread_wakes_the_consumer() -> None:
    queue = EventQueue()
    timer = threading.Timer(0.05, queue.put, args=(Event("spec", generation=7),))
    timer.start()
    started = time.monotonic()
    try:
        assert queue.get(5) == [Event("spec", generation=7)]
    finally:
        timer.cancel()
    assert time.monotonic() - started < 2


def test_no_event_is_lost_or_delivered_twice_under_concurrent_producers() -> None:
    queue = EventQueue()
    producers = [
        threading.Thread(target=lambda n=n: [queue.put(Event("p", f"{n}-{i}")) for i in range(200)])
        for n in range(4)
    ]
    for thread in producers:
        thread.start()
    seen: list[Event] = []
    deadline = time.monotonic() + 10
    while len(seen) < 800 and time.monotonic() < deadline:
        seen.extend(queue.get(0.1))
    for thread in producers:
        thread.join(5)
    seen.extend(queue.get(0))
    assert len(seen) == 800
    assert len(set(seen)) == 800


def test_a_delayed_event_arrives_only_when_due() -> None:
    clock = FakeClock()
    queue = EventQueue(clock=clock)
    queue.put_after(Event("retry"), 5)
    assert queue.get(0) == []
    clock.now += 5
    assert queue.get(0) == [Event("retry")]


def test_cancelled_retries_never_arrive() -> None:
    clock = FakeClock()
    queue = EventQueue(clock=clock)
    queue.put_after(Event("retry"), 1)
    queue.put_after(Event("other"), 1)
    queue.cancel_delayed("retry")
    clock.now += 2
    assert queue.get(0) == [Event("other")]


def test_close_wakes_the_consumer_and_drops_later_events() -> None:
    queue = EventQueue()
    timer = threading.Timer(0.05, queue.close)
    timer.start()
    started = time.monotonic()
    assert queue.get(5) == []
    assert time.monotonic() - started < 2
    queue.put(Event("late"))
    assert queue.get(0) == []
    assert queue.closed
