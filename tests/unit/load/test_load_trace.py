"""QuietTrace: message events counted, not kept; the rest kept, bounded; listeners served."""

from testbed.load import QuietTrace


def test_messages_are_counted_and_other_events_kept_up_to_the_bound():
    trace = QuietTrace(lambda: 1.0, "load", keep=3)
    for _ in range(5):
        assert trace.record("sent", "UDP", summary="REGISTER") is None
    trace.record("received", "UDP")
    for n in range(4):
        trace.record("connect-failed", "TCP", summary=f"refused {n}")
    assert trace.counts == {"sent": 5, "received": 1, "connect-failed": 4}
    assert [e.summary for e in trace.events] == ["refused 1", "refused 2", "refused 3"]
    trace.count("stray")
    assert trace.counts["stray"] == 1
    assert trace.child("other") is trace


def test_a_listener_still_sees_message_events():
    trace = QuietTrace(lambda: 2.0)
    waiter = trace.received("200")
    trace.record("received", "UDP", summary="200 OK (CSeq 1 REGISTER)")
    assert waiter.called and trace.counts["received"] == 1


def test_counted_counts_message_events_unless_someone_listens():
    from testbed.transport import Trace

    trace = QuietTrace(lambda: 3.0)
    assert trace.counted("sent") and trace.counted("received")
    assert not trace.counted("connect-failed")  # kept: the caller records it
    assert trace.counts == {"sent": 1, "received": 1}
    trace.received("200")  # a listener: message events are recorded again
    assert not trace.counted("received")
    assert trace.counts["received"] == 1
    plain = Trace(lambda: 3.0)
    assert not plain.counted("sent") and not plain.events  # a plain trace keeps them all
