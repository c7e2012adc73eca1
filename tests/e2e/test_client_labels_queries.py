"""Labels, tags, queries and users with ``openlqs.client.LogQS`` against the local stack over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openlqs.client import ClientConfig, LogQS
from openlqs.errors import Conflict
from tests.e2e.conftest import LocalStackProcess

pytestmark = pytest.mark.e2e

S = 1_000_000_000
BASE = 1_700_000_000 * S


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    local = LocalStackProcess(tmp_path_factory.mktemp("labels-queries") / "openlqs-data")
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="module")
def lqs(stack: LocalStackProcess) -> LogQS:
    return LogQS(
        config=ClientConfig(
            api_url=stack.api_url,
            datastore_id=stack.datastore_id,
            api_key_id=stack.api_key_id,
            api_key_secret=stack.api_key_secret,
            progress=False,
        )
    )


def test_client_labels_tags_and_logs_by_label(lqs: LogQS) -> None:
    group = lqs.resource.Group.create(name="Labelled")
    first = lqs.resource.Log.create(group_id=group.id, name="first")
    second = lqs.resource.Log.create(group_id=group.id, name="second")
    imu = lqs.resource.Topic.create(log_id=first.id, name="/imu")
    for i in range(10):
        lqs.create.record(timestamp=BASE + i * S, topic_id=imu.id)
    braking = lqs.resource.Label.create(value="hard braking", category="events")
    dropout = lqs.resource.Label.fetch_or_create(value="dropout")

    window = lqs.create.tag(
        label_id=braking.id, log_id=first.id, topic_id=imu.id, start_time=BASE + 2 * S, end_time=BASE + 4 * S
    ).data
    lqs.create.tag(label_id=dropout.id, log_id=first.id)
    lqs.create.tag(label_id=braking.id, log_id=second.id)

    assert {tag.id for tag in braking.list_tags()} == {window.id, *[t.id for t in second.list_tags()]}
    assert [tag.label_id for tag in first.list_tags(label_id=dropout.id)] == [dropout.id]
    assert [(r.timestamp - BASE) // S for r in window.list_records()] == [2, 3, 4]
    both = lqs.list.log(tag_label_ids_includes=[braking.id, dropout.id]).data
    assert [log.id for log in both] == [first.id]
    with pytest.raises(Conflict):
        lqs.create.label(value="hard braking", category="events")
    with pytest.raises(Conflict):
        braking.delete()
    window.update(note="checked")
    assert lqs.fetch.tag(window.id, log_id=first.id).data.note == "checked"
    lqs.delete.tag(window.id)
    assert lqs.resource.Label.fetch("hard braking").id == braking.id


def test_client_queries_run_sql_over_a_log(lqs: LogQS) -> None:
    group = lqs.resource.Group.create(name="Queried")
    log = lqs.resource.Log.create(group_id=group.id, name="log")
    for name, count in (("/a", 3), ("/b", 2)):
        topic = lqs.resource.Topic.create(log_id=log.id, name=name)
        for i in range(count):
            lqs.create.record(timestamp=BASE + i * S, topic_id=topic.id, query_data={"x": i * 4})

    query = lqs.resource.Query.create(
        log_id=log.id,
        name="per topic",
        statement="SELECT t.name, count(*), min(timestamp), max(timestamp) "
        "FROM records r JOIN topics t ON r.topic_id = t.id GROUP BY 1 ORDER BY 1",
    )
    numbers = lqs.create.query(
        log_id=log.id,
        statement="SELECT count(*) FROM records WHERE query_data->>'$.x' > $x",
        parameters={"x": 5},
    ).data
    refused = lqs.create.query(log_id=log.id, statement="ATTACH 'other.db'").data

    assert query.error is None
    assert query.rows == [["/a", 3, BASE, BASE + 2 * S], ["/b", 2, BASE, BASE + S]]
    assert numbers.rows == [[1]]
    assert refused.error is not None and refused.error["name"] == "BadQuery"
    again = query.update(statement="SELECT count(*) FROM records")
    assert again.rows == [[5]]
    assert [q.id for q in log.list_queries()] == [query.id, numbers.id, refused.id]


def test_client_users_me_and_keys_of_users(lqs: LogQS, stack: LocalStackProcess) -> None:
    me = lqs.fetch.me().data
    assert me is not None and me.username == "admin" and me.admin is True

    bob = lqs.resource.User.create(username="bob", password="a long enough password")
    key = lqs.create.api_key(name="bob's", role="write", user_id=bob.id).data
    assert key.secret is not None
    as_bob = LogQS(
        config=ClientConfig(
            api_url=stack.api_url,
            datastore_id=stack.datastore_id,
            api_key_id=str(key.id),
            api_key_secret=key.secret,
            progress=False,
        )
    )
    assert as_bob.fetch.me().data.id == bob.id
    made = as_bob.create.group(name="Bob's").data
    assert made.created_by == bob.id
    assert lqs.resource.User.fetch("bob").id == bob.id
