"""node/topic_repair.py: a lonely topic is looked up again soon, then less and less often."""

from __future__ import annotations

from djmesh.node.topic_repair import RepairSchedule


def test_a_lonely_topic_backs_off_from_seconds_to_the_repair_round() -> None:
    schedule = RepairSchedule(first_retry_s=2.0, every_s=60.0)
    now = 0.0
    waits = []
    for _ in range(8):
        schedule.looked_up("t", now)
        deadline = schedule.next_deadline()
        assert deadline is not None
        waits.append(deadline - now)
        assert schedule.due(deadline - 0.01) == []
        assert schedule.due(deadline) == ["t"]
        now = deadline
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_a_topic_that_found_peers_is_watched_and_starts_over_when_it_loses_them() -> None:
    schedule = RepairSchedule(first_retry_s=2.0, every_s=60.0, check_s=5.0)
    for now in (0.0, 2.0, 6.0):
        schedule.looked_up("t", now)
    schedule.has_peers("t", 14.0)
    assert schedule.next_deadline() == 19.0
    schedule.looked_up("t", 19.0)  # the mesh emptied meanwhile: soon again, not after a doubled wait
    assert schedule.next_deadline() == 21.0


def test_topics_come_due_longest_overdue_first_and_a_forgotten_one_never() -> None:
    schedule = RepairSchedule(first_retry_s=2.0, every_s=60.0)
    schedule.looked_up("late", 0.0)
    schedule.looked_up("later", 1.0)
    schedule.looked_up("gone", 0.5)
    schedule.forget("gone")
    assert schedule.due(10.0) == ["late", "later"]
    assert schedule.next_deadline() == 2.0


def test_a_topic_that_needs_nobody_found_waits_for_the_repair_round() -> None:
    schedule = RepairSchedule(first_retry_s=2.0, every_s=60.0)
    schedule.looked_up("own", 0.0, retry_soon=False)
    assert schedule.next_deadline() == 60.0
