"""The process life cycle: transition tables, entering a state, and the pipeline's conditional moves."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import product
from typing import Any
from uuid import UUID

import pytest

from openlqs.domain import common
from openlqs.domain.common import Environment, VersionedUpdates, retry_on_conflict
from openlqs.domain.ingestions import (
    LIFE_CYCLE,
    PART_LIFE_CYCLE,
    USER_TRANSITIONS,
    IngestionService,
    attempt_of,
    check_transition,
    enter_state,
)
from openlqs.domain.ports import ResourceKind
from openlqs.errors import BadRequest, ConcurrentChange, Conflict, DuplicateIngestion, InvalidTransition
from openlqs.models.common import CommonModel, ProcessState
from openlqs.models.ingestions import Ingestion

S = ProcessState
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
INGESTION_ID = UUID("5b0b1d6e-8a7e-4f0c-9a55-0f4f4a8a7d21")
LOG_ID = UUID("6e7c7138-a9ca-439b-a3a3-c0aea4d894b8")
GROUP_ID = UUID("0f6c2a53-6d7e-4f1f-9e5a-2b8c7f0d9a11")

#: The moves a caller of the API may make, spelled out once more as the brief states them.
EXPECTED_USER_MOVES = {
    (S.ready, S.queued),
    (S.failed, S.queued),
    (S.cancelled, S.queued),
    (S.ready, S.cancelled),
    (S.queued, S.cancelled),
    (S.failed, S.cancelled),
    # Cancelling work that is queued or running (issue 14: a user always has a way out)
    (S.queued, S.failed),
    (S.processing, S.cancelled),
    (S.processing, S.failed),
    (S.finalizing, S.cancelled),
    (S.finalizing, S.failed),
    (S.completed, S.archived),
    (S.failed, S.archived),
    (S.cancelled, S.archived),
}
RUNNING = (S.ready, S.queued, S.processing, S.finalizing)


def _moves(table: Any) -> set[tuple[ProcessState, ProcessState]]:
    return {(current, wanted) for current, targets in table.items() for wanted in targets}


def _ingestion(state: ProcessState = S.ready, **fields: Any) -> Ingestion:
    return Ingestion(
        id=INGESTION_ID,
        created_at=NOW,
        log_id=LOG_ID,
        group_id=GROUP_ID,
        object_key="log.bag",
        state=state,
        **fields,
    )


# -- the tables -------------------------------------------------------------------------------------


def test_transition_tables_cover_every_state() -> None:
    for table in (USER_TRANSITIONS, LIFE_CYCLE, PART_LIFE_CYCLE):
        assert set(table) == set(ProcessState)


def test_user_transitions_are_exactly_the_api_moves() -> None:
    assert _moves(USER_TRANSITIONS) == EXPECTED_USER_MOVES


def test_life_cycle_contains_every_user_move() -> None:
    assert _moves(USER_TRANSITIONS) <= _moves(LIFE_CYCLE) <= _moves(PART_LIFE_CYCLE)


def test_life_cycle_runs_queued_processing_finalizing_completed() -> None:
    for current, wanted in [
        (S.queued, S.processing),
        (S.processing, S.finalizing),
        (S.finalizing, S.completed),
    ]:
        check_transition("ingestion x", current, wanted, LIFE_CYCLE)


def test_life_cycle_fails_from_any_running_state_only() -> None:
    failing_from = {current for current, wanted in _moves(LIFE_CYCLE) if wanted == S.failed}

    assert failing_from == set(RUNNING)


def test_life_cycle_has_no_way_out_of_archived_and_no_way_back_to_ready() -> None:
    assert LIFE_CYCLE[S.archived] == frozenset()
    assert all(S.ready not in targets for targets in LIFE_CYCLE.values())


def test_life_cycle_skips_finalizing_for_parts_only() -> None:
    assert (S.processing, S.completed) not in _moves(LIFE_CYCLE)
    assert (S.processing, S.completed) in _moves(PART_LIFE_CYCLE)


# -- check_transition -------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(ProcessState))
def test_check_transition_allows_staying_in_any_state(state: ProcessState) -> None:
    check_transition("ingestion x", state, state, USER_TRANSITIONS)


def test_check_transition_refuses_every_move_the_user_table_lacks() -> None:
    refused = set(product(ProcessState, ProcessState)) - EXPECTED_USER_MOVES
    for current, wanted in refused:
        if current == wanted:
            continue
        with pytest.raises(InvalidTransition):
            check_transition("ingestion x", current, wanted, USER_TRANSITIONS)


def test_check_transition_names_both_states() -> None:
    with pytest.raises(InvalidTransition) as caught:
        check_transition(f"ingestion {INGESTION_ID}", S.completed, S.processing, USER_TRANSITIONS)

    assert caught.value.message == (
        f"[InvalidTransition] cannot move ingestion {INGESTION_ID} from completed to processing."
    )
    assert caught.value.status_code == 409


# -- entering a state -------------------------------------------------------------------------------


def test_enter_queued_starts_a_clean_attempt() -> None:
    # Given a failed first attempt
    ingestion = _ingestion(
        S.failed,
        progress=0.4,
        error={"old": True},
        error_name="BadLogFile",
        error_message="corrupt chunk",
        error_payload={"part": 2},
    )
    ingestion._internal["attempt"] = 1

    # When it enters queued again
    enter_state(ingestion, S.failed, S.queued, NOW)

    # Then a second attempt starts from zero, with the old error gone
    assert attempt_of(ingestion) == 2
    assert (ingestion.state, ingestion.previous_state, ingestion.transitioned_at) == (S.queued, S.failed, NOW)
    assert ingestion.progress == 0.0
    assert (ingestion.error, ingestion.error_name, ingestion.error_message, ingestion.error_payload) == (
        None,
        None,
        None,
        None,
    )


def test_attempt_starts_at_zero_and_counts_queueings() -> None:
    ingestion = _ingestion()
    assert attempt_of(ingestion) == 0

    enter_state(ingestion, S.ready, S.queued, NOW)

    assert attempt_of(ingestion) == 1


def test_enter_completed_sets_full_progress() -> None:
    ingestion = _ingestion(S.finalizing, progress=0.9)

    enter_state(ingestion, S.finalizing, S.completed, NOW)

    assert (ingestion.progress, ingestion.previous_state) == (1.0, S.finalizing)


def test_enter_failed_keeps_progress_and_attempt() -> None:
    ingestion = _ingestion(S.processing, progress=0.3)
    ingestion._internal["attempt"] = 3

    enter_state(ingestion, S.processing, S.failed, NOW)

    assert (ingestion.progress, attempt_of(ingestion), ingestion.state) == (0.3, 3, S.failed)


# -- retry_on_conflict ------------------------------------------------------------------------------


def test_retry_on_conflict_runs_again_after_a_concurrent_write() -> None:
    calls: list[int] = []

    def operation() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConcurrentChange("changed by another request")
        return "done"

    assert retry_on_conflict(operation) == "done"
    assert len(calls) == 3


def test_retry_on_conflict_gives_up_after_its_attempts() -> None:
    calls: list[int] = []

    def operation() -> None:
        calls.append(1)
        raise ConcurrentChange("changed by another request")

    with pytest.raises(ConcurrentChange):
        retry_on_conflict(operation, attempts=4)
    assert len(calls) == 4


def test_retry_on_conflict_waits_longer_at_random_after_each_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    # Writers that lost together must not all read and write again at once (full jitter)
    waits: list[float] = []
    monkeypatch.setattr(common.time, "sleep", waits.append)

    def operation() -> None:
        raise ConcurrentChange("changed by another request")

    for _ in range(50):
        with pytest.raises(ConcurrentChange):
            retry_on_conflict(operation, attempts=8)
    ceilings = [min(common.CONFLICT_BACKOFF_CAP_S, common.CONFLICT_BACKOFF_BASE_S * 2**a) for a in range(7)]
    by_attempt = [waits[a::7] for a in range(7)]  # no wait after the last attempt
    assert len(waits) == 50 * 7
    assert all(0 <= wait <= ceilings[a] for a, column in enumerate(by_attempt) for wait in column)
    assert len(set(by_attempt[0])) == 50  # random, not one fixed wait
    assert max(by_attempt[-1]) > ceilings[0]  # the range grows


@pytest.mark.parametrize(
    "error",
    [
        InvalidTransition("cannot move"),
        Conflict("A group named 'Fleet' already exists."),
        DuplicateIngestion("Log already holds the records of this file."),
    ],
)
def test_retry_on_conflict_never_retries_a_conflict_that_is_not_a_race(
    error: Conflict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A taken name or a refused transition stays so: answered at once, without reading again or waiting
    calls: list[int] = []
    waits: list[float] = []
    monkeypatch.setattr(common.time, "sleep", waits.append)

    def operation() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        retry_on_conflict(operation)
    assert (calls, waits) == ([1], [])


# -- IngestionService.transition with a concurrent writer --------------------------------------------


class RacingRepository(VersionedUpdates):
    """Holds one ingestion; the first ``races`` replaces lose to a concurrent writer."""

    def __init__(self, ingestion: Ingestion, races: int = 0) -> None:
        self.stored = ingestion
        self.stored._version = 1
        self.races = races
        self.replaces = 0

    def get(self, kind: ResourceKind, resource_id: UUID) -> CommonModel:
        copy = self.stored.model_copy(deep=True)
        copy._version, copy._internal = self.stored._version, dict(self.stored._internal)
        return copy

    def replace(self, kind: ResourceKind, old: CommonModel, new: CommonModel, conditions: Any = None) -> Any:
        self.replaces += 1
        if self.races:
            # Someone else (a part finishing) wrote progress in between.
            self.races -= 1
            self.stored = self.stored.model_copy(update={"progress": 0.25})
            self.stored._version = old._version + 1
        if old._version != self.stored._version:
            raise ConcurrentChange("Ingestion was changed by another request; try again.")
        new._version = old._version + 1
        self.stored = new
        return new


def _service(repository: RacingRepository) -> IngestionService:
    return IngestionService(
        repository,
        Environment(now=lambda: NOW),
        datastore_id=UUID("00000000-0000-4000-8000-000000000001"),
    )


def test_transition_rereads_after_a_concurrent_write() -> None:
    repository = RacingRepository(_ingestion(S.processing, progress=0.0), races=2)

    moved = _service(repository).transition(INGESTION_ID, S.finalizing, expected_from={S.processing})

    assert repository.replaces == 3
    assert (moved.state, moved.previous_state, moved.progress) == (S.finalizing, S.processing, 0.25)
    assert repository.stored.state == S.finalizing


def test_transition_with_unexpected_current_state_is_refused_without_writing() -> None:
    repository = RacingRepository(_ingestion(S.cancelled))

    with pytest.raises(InvalidTransition, match="from cancelled to processing: expected it queued"):
        _service(repository).transition(INGESTION_ID, S.processing, expected_from={S.queued})
    assert repository.replaces == 0


def test_transition_to_the_current_state_updates_progress_only() -> None:
    ingestion = _ingestion(S.processing, progress=0.1, previous_state=S.queued, transitioned_at=NOW)
    repository = RacingRepository(ingestion)
    later = datetime(2024, 6, 1, 12, 5, tzinfo=UTC)
    service = IngestionService(
        repository,
        Environment(now=lambda: later),
        datastore_id=UUID("00000000-0000-4000-8000-000000000001"),
    )

    moved = service.transition(INGESTION_ID, S.processing, progress=0.6)

    assert (moved.progress, moved.previous_state, moved.transitioned_at, moved.updated_at) == (
        0.6,
        S.queued,
        NOW,
        later,
    )


def test_transition_refuses_progress_outside_zero_to_one() -> None:
    repository = RacingRepository(_ingestion(S.processing))

    with pytest.raises(BadRequest, match="progress"):
        _service(repository).transition(INGESTION_ID, S.processing, progress=1.5)
    assert repository.replaces == 0


def test_transition_outside_the_life_cycle_is_refused() -> None:
    repository = RacingRepository(_ingestion(S.completed))

    with pytest.raises(InvalidTransition, match="from completed to processing"):
        _service(repository).transition(INGESTION_ID, S.processing)
    assert repository.replaces == 0
