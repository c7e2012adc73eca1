"""The web console in a real browser (Debian's Chromium, tests/support/browser.py) against the local stack.

One stack serves the module, started as `make local` starts it, with the sweep's parts made small and
run one at a time (`PartTargetBytes=1024 PartMaxConcurrency=1`) so that an ingestion of a bag of many
chunks takes a few seconds and its progress bar can be seen moving. The module's fixtures ingest a real
bag (example.bag, 9 topics), a generated camera bag (a 10 MB image record among small ones) and a file
that is not a bag. Every test signs in as a user would, looks at the page at 1280x800, saves screenshots
of its steps under its own temporary folder (``screenshots/``), and ends with no script error and no
Content-Security-Policy violation in the page. One more test walks the main steps in Firefox.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import httpx
import pytest

from tests.e2e.conftest import ApiKeyAuth, LocalStackProcess
from tests.support.bags import EXAMPLE_BAG_TOPIC_COUNTS, write_image_bag, write_string_bag
from tests.support.browser import FirefoxPage, Screenshots, require_browser

pytestmark = pytest.mark.e2e

INGESTION_TIMEOUT_S = 180
#: What the API (and API Gateway) answers a request with a wrong key.
UNAUTHORIZED = (
    "[Unauthorized] Missing or invalid credentials. Expected the header Authorization: Bearer "
    "base64(key_id:secret), with an API key of this datastore."
)
XSS = "<img src=x onerror=alert(1)>"


# -- the stack and its data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    require_browser()  # before starting anything: no browser, no stack
    local = LocalStackProcess(tmp_path_factory.mktemp("console") / "openlqs-data")
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("OPENLQS_PARAMETER_OVERRIDES", "PartTargetBytes=1024 PartMaxConcurrency=1")
        local.start()
    yield local
    local.stop()


@pytest.fixture(scope="module")
def api(stack: LocalStackProcess) -> Iterator[httpx.Client]:
    """The stack's API with its admin key (never sent to presigned storage URLs)."""
    with httpx.Client(base_url=stack.base(), auth=ApiKeyAuth(stack), timeout=60) as client:
        yield client


def data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["data"]


def fetch_or_create(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    found = api.get(path, params={key: value for key, value in body.items() if key != "note"}).json()["data"]
    return found[0] if found else data(api.post(path, json=body))


def upload(api: httpx.Client, log_id: str, key: str, content: bytes) -> None:
    objects = f"/logs/{log_id}/objects"
    data(api.post(objects, json={"key": key}))
    part = data(api.post(f"{objects}/{key}/parts", json={"part_number": 1, "size": len(content)}))
    httpx.put(part["presigned_url"], content=content, timeout=60).raise_for_status()
    data(api.patch(f"{objects}/{key}", json={"upload_state": "complete"}))


def ingest(
    api: httpx.Client, group: str, log: str, key: str, content: bytes, final: str = "completed"
) -> dict[str, Any]:
    """A log holding ``content`` as ``key``, ingested; returns the log with its ingestion."""
    group_item = fetch_or_create(api, "/groups", {"name": group})
    log_item = fetch_or_create(api, "/logs", {"group_id": group_item["id"], "name": log})
    upload(api, log_item["id"], key, content)
    ingestion = data(
        api.post("/ingestions", json={"log_id": log_item["id"], "object_key": key, "state": "queued"})
    )
    deadline = time.monotonic() + INGESTION_TIMEOUT_S
    while ingestion["state"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, ingestion
        time.sleep(0.2)
        ingestion = data(api.get(f"/ingestions/{ingestion['id']}"))
    assert ingestion["state"] == final, ingestion
    return {**log_item, "group": group_item, "ingestion": ingestion}


@pytest.fixture(scope="module")
def turtles(api: httpx.Client, fixture_bags: Path) -> dict[str, Any]:
    """example.bag (9 topics, 8,647 records), ingested into Robots / Turtles."""
    return ingest(api, "Robots", "Turtles", "example.bag", (fixture_bags / "example.bag").read_bytes())


@pytest.fixture(scope="module")
def cameras(api: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A generated camera bag: /camera/rgb holds 10 MB images, /camera/mono 300 KB ones."""
    bag = write_image_bag(tmp_path_factory.mktemp("bags") / "cameras.bag", rgb_size=(1920, 1800))
    content = bag.path.read_bytes()
    return {**ingest(api, "Robots", "Cameras", "cameras.bag", content), "content": content}


@pytest.fixture(scope="module")
def broken(api: httpx.Client, fixture_bags: Path) -> dict[str, Any]:
    """A text file queued as a log: its ingestion fails, saying why."""
    content = (fixture_bags / "asci-file.txt").read_bytes()
    return ingest(api, "Robots", "Broken", "notes.bag", content, final="failed")


def create_key(api: httpx.Client, role: str) -> dict[str, Any]:
    return data(api.post("/apiKeys", json={"name": f"console {role} {time.monotonic_ns()}", "role": role}))


# -- the browser ----------------------------------------------------------------------------------------


@dataclass
class Console:
    """A page of the console, what went wrong in it, and its screenshots."""

    page: Any
    screenshots: Screenshots
    url: str
    problems: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def sign_in(self, key_id: str, secret: str) -> None:
        self.page.goto(self.url)
        self.page.locator("#key-id").fill(key_id)
        self.page.locator("#key-secret").fill(secret)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_role("heading", name="Groups").wait_for()

    def open(self, *links: str) -> None:
        """Follow links by their text, one page after the other."""
        for text in links:
            self.page.get_by_role("link", name=text, exact=True).first.click()
            self.page.get_by_role("heading", name=text, exact=True).wait_for()

    def alerts(self) -> str:
        return str(self.page.locator("#alerts").inner_text())

    def api_calls(self, fragment: str) -> list[str]:
        return [url for url in self.requests if fragment in url]

    def assert_clean(self) -> None:
        """No script error, no policy violation, no dialog, nothing wider than the window."""
        assert self.problems == []
        assert self.dialogs == []
        assert "[ContentSecurityPolicy]" not in self.alerts()
        assert self.page.evaluate("document.documentElement.scrollWidth") <= 1280


@pytest.fixture
def console(stack: LocalStackProcess, browser_page: tuple[Any, Screenshots]) -> Console:
    page, screenshots = browser_page
    page.set_viewport_size({"width": 1280, "height": 800})
    assert stack.console_url is not None
    found = Console(page, screenshots, stack.console_url)
    page.on("pageerror", lambda error: found.problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            found.problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" or "Content Security Policy" in message.text
            else None
        ),
    )
    page.on("dialog", lambda dialog: (found.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: found.requests.append(request.url))
    return found


# -- signing in -------------------------------------------------------------------------------------------


def test_console_signs_in_with_the_printed_key_and_forgets_it_on_sign_out(
    stack: LocalStackProcess, console: Console, turtles: dict[str, Any]
) -> None:
    page = console.page
    # Given the console at the URL the stack printed, signed in with the keyboard only
    assert stack.console_url == f"{stack.api_url}/console/"
    page.goto(console.url)
    page.locator("#key-id").wait_for()
    console.screenshots.take("sign-in")
    page.keyboard.type(stack.api_key_id)  # the key id field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(stack.api_key_secret)
    page.keyboard.press("Enter")

    # Then the groups are listed, and the key is kept in this tab's session storage only
    page.get_by_role("heading", name="Groups").wait_for()
    page.get_by_role("link", name="Robots").wait_for()
    console.screenshots.take("groups")
    stored = page.evaluate("() => ({...sessionStorage})")
    assert list(stored.values()) == [
        base64.b64encode(f"{stack.api_key_id}:{stack.api_key_secret}".encode()).decode()
    ]
    assert page.evaluate("localStorage.length") == 0
    assert stack.api_key_secret not in page.url
    assert all(stack.api_key_secret not in url and "Bearer" not in url for url in console.requests)
    assert "openlqs local admin (admin)" in page.locator("#who").inner_text()

    # When the user signs out, the key is gone, also after a reload
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.evaluate("sessionStorage.length") == 0
    assert page.locator("#who").is_hidden()
    page.reload()
    page.get_by_role("heading", name="Sign in").wait_for()
    console.screenshots.take("signed-out")
    console.assert_clean()


def test_console_shows_the_401_message_for_a_wrong_key(stack: LocalStackProcess, console: Console) -> None:
    page = console.page
    page.goto(console.url)
    page.locator("#key-id").fill(stack.api_key_id)
    page.locator("#key-secret").fill("not-the-secret")
    page.get_by_role("button", name="Sign in").click()

    status = page.locator("#signin-status")
    status.filter(has_text="[Unauthorized]").wait_for()
    console.screenshots.take("wrong-key")
    assert status.inner_text() == UNAUTHORIZED
    assert page.evaluate("sessionStorage.length") == 0
    console.problems = [p for p in console.problems if "401" not in p]  # the browser logs the failed fetch
    console.assert_clean()


def test_console_shows_an_api_error_on_the_page_never_a_blank_one(
    stack: LocalStackProcess, console: Console, api: httpx.Client
) -> None:
    page = console.page
    console.sign_in(stack.api_key_id, stack.api_key_secret)

    # When the user follows a link to a log that does not exist
    missing = uuid4()
    page.goto(f"{console.url}#/logs/{missing}")

    # Then the page says what the API said, as "[Name] message"
    page.get_by_role("heading", name="Something went wrong").wait_for()
    console.screenshots.take("not-found")
    answer = api.get(f"/logs/{missing}")
    assert answer.status_code == 404
    message = answer.json()["message"]
    assert message.startswith("[NotFound] ")
    assert message in page.locator("main").inner_text()
    assert page.locator("#alerts .alert .text").inner_text() == message
    assert page.get_by_role("link", name="Back to the groups").is_visible()
    console.problems = [p for p in console.problems if "404" not in p]  # the browser logs the answer
    console.assert_clean()


# -- a log --------------------------------------------------------------------------------------------------


def test_console_log_shows_its_ingestion_topics_and_a_timeline_of_nine_topics(
    stack: LocalStackProcess,
    console: Console,
    api: httpx.Client,
    turtles: dict[str, Any],
    broken: dict[str, Any],
) -> None:
    page = console.page
    fetch_or_create(api, "/groups", {"name": "Others"})  # what the search leaves out: another group
    console.sign_in(stack.api_key_id, stack.api_key_secret)

    # When the user finds Robots, then Turtles, by searching their names
    page.get_by_placeholder("Group name contains").fill("obot")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#/groups\?q=obot"))
    rows = page.locator("main table tbody tr")
    page.wait_for_function("() => document.querySelectorAll('main table tbody tr').length === 1")
    assert rows.inner_text().startswith("Robots")
    console.open("Robots")
    page.wait_for_function(
        "() => document.querySelectorAll('main table tbody tr').length === 2"
    )  # and Broken
    page.get_by_placeholder("Log name contains").fill("urtle")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"\?q=urtle"))
    page.wait_for_function("() => document.querySelectorAll('main table tbody tr').length === 1")
    assert rows.inner_text().startswith("Turtles")
    console.screenshots.take("search")
    console.open("Turtles")
    page.locator("#timeline svg.strip").nth(8).wait_for()
    console.screenshots.take("log")
    page.locator("#timeline").scroll_into_view_if_needed()
    console.screenshots.take("timeline")

    # Then the ingestion is completed, at 100 %
    row = page.locator("#ingestions tbody tr")
    assert row.count() == 1
    assert "completed" in row.inner_text() and "100%" in row.inner_text()
    assert page.locator("#ingestions progress").get_attribute("value") == "1"
    # And the topics are listed with type, encoding, count, first and last time
    topics = page.locator("#topics tbody tr")
    assert topics.count() == 9
    pose = page.locator("#topics tbody tr", has_text="/turtle1/pose")
    assert re.search(r"turtlesim/Pose\s+ros1\s+1,344\s+2014-03-31T19:24:48\.056045055Z", pose.inner_text())
    # And the timeline has the 9 topics, each with its records where it has them
    rows = page.locator("#timeline [data-topic-row]")
    assert sorted(rows.evaluate_all("rows => rows.map(row => row.dataset.topicRow)")) == sorted(
        EXAMPLE_BAG_TOPIC_COUNTS
    )
    covered = {
        name: int(page.locator(f'#timeline [data-topic-row="{name}"] svg').get_attribute("data-covered"))
        for name in EXAMPLE_BAG_TOPIC_COUNTS
    }
    assert covered["/tf_static"] == 1  # one message
    assert covered["/turtle1/pose"] > 190 and covered["/tf"] > 190  # all along the log's 21.7 s
    assert 0 < covered["/rosout"] < 10  # its 10 messages in the first 0.2 s
    # Drawn from the coverage route (block statistics), never by listing records
    assert len(console.api_calls("/coverage")) == 9
    assert console.api_calls("/records") == []
    console.assert_clean()


def test_console_shows_a_failed_ingestions_error_and_queues_it_again(
    stack: LocalStackProcess, console: Console, api: httpx.Client, broken: dict[str, Any]
) -> None:
    page = console.page
    console.sign_in(stack.api_key_id, stack.api_key_secret)
    console.open("Robots", "Broken")
    row = page.locator("#ingestions tbody tr").first
    row.filter(has_text="failed").wait_for()
    console.screenshots.take("failed")

    # The error's name and message, as the API has them
    failed = broken["ingestion"]
    assert f"[{failed['error_name']}] {failed['error_message']}" in row.inner_text()
    # And its payload, folded until asked for (a keyboard toggle)
    assert failed["error_payload"], failed
    payload = row.locator("details pre")
    assert payload.is_hidden()
    row.locator("details summary", has_text="Payload").focus()
    page.keyboard.press("Enter")
    assert json.loads(payload.inner_text()) == failed["error_payload"]

    # Queue again: the ingestion runs once more (and fails again: the file is still not a bag)
    row.get_by_role("button", name="Queue again").click()
    deadline = time.monotonic() + INGESTION_TIMEOUT_S
    while True:
        again = data(api.get(f"/ingestions/{failed['id']}"))
        if again["state"] == "failed" and again["transitioned_at"] != failed["transitioned_at"]:
            break
        assert time.monotonic() < deadline, again
        page.wait_for_timeout(200)
    row.filter(has_text="failed").wait_for()
    console.screenshots.take("queued-again")
    assert f"[{again['error_name']}]" in row.inner_text()
    console.assert_clean()


# -- a topic ------------------------------------------------------------------------------------------------


def test_console_pages_through_turtle1_pose_shows_a_record_and_plots_x(
    stack: LocalStackProcess, console: Console, api: httpx.Client, turtles: dict[str, Any], fixture_bags: Path
) -> None:
    page = console.page
    console.sign_in(stack.api_key_id, stack.api_key_secret)
    console.open("Robots", "Turtles", "/turtle1/pose")
    status = page.locator("#records .page-status")
    status.filter(has_text="1\u201350 of 1,344").wait_for()
    first_page = page.locator("#records .record-button").first.inner_text()

    # When the user goes to the next page
    page.locator("#records").get_by_role("button", name="Next").click()
    status.filter(has_text="51\u2013100 of 1,344").wait_for()
    assert page.locator("#records .record-button").first.inner_text() != first_page
    console.screenshots.take("page-2")
    # Pages are asked for one at a time, never the whole topic
    pages = [parse_qs(urlsplit(url).query) for url in console.api_calls("/records?")]
    assert [(query["limit"], query["offset"]) for query in pages] == [(["50"], ["0"]), (["50"], ["50"])]

    # And chooses a record with the keyboard
    button = page.locator("#records .record-button").nth(2)
    timestamp_text = button.inner_text()
    button.focus()
    page.keyboard.press("Enter")
    tree = page.locator("#record .tree")
    tree.wait_for()
    console.screenshots.take("record")

    # Then its query_data is shown as a tree, with exact nanosecond timestamps
    listed = data(api.get("/topics", params={"log_id": turtles["id"], "name": "/turtle1/pose"}))[0]
    record = api.get(f"/topics/{listed['id']}/records", params={"limit": 1, "offset": 52}).json()["data"][0]
    assert f"({record['timestamp']})" in page.locator("#record").inner_text()
    assert timestamp_text.startswith("2014-03-31T19:24:")
    full = data(
        api.get(
            f"/topics/{listed['id']}/records/{record['timestamp']}", params={"include_auxiliary_data": True}
        )
    )
    text = tree.inner_text()
    for name in ("x", "y", "theta", "linear_velocity", "angular_velocity"):
        shown = re.search(rf"^{name}: (\S+)$", text, re.M)
        assert shown is not None and float(shown.group(1)) == full["query_data"][name], text

    # And its raw bytes download as the bag holds them
    with page.expect_download() as download:
        page.get_by_role("button", name="Download raw bytes").click()
    saved = Path(download.value.path()).read_bytes()
    bag = (fixture_bags / "example.bag").read_bytes()
    assert saved == bag[record["data_offset"] : record["data_offset"] + record["data_length"]]

    # When the user plots x
    page.locator("#plot select").select_option("x")
    page.locator("#plot").get_by_role("button", name="Plot").click()
    canvas = page.locator("#plot canvas")
    canvas.wait_for()
    canvas.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    console.screenshots.take("plot")

    # Then the plot has points, thinned with frequency (1,344 records are more than it draws)
    points = int(canvas.get_attribute("data-points"))
    assert 500 <= points <= 1344
    assert "points of x (thinned with frequency=" in page.locator("#plot .plot-status").inner_text()
    plotted = [url for url in console.api_calls("/records?") if "include_auxiliary_data=true" in url]
    assert plotted and all("frequency=" in url for url in plotted)
    # And the cursor moves with the keyboard, reading the value out
    canvas.focus()
    page.keyboard.press("End")
    assert re.match(
        r"x = [\d.]+ at \+[\d.]+ s \(point \d+ of \d+\)", page.locator("#plot .readout").inner_text()
    )
    console.assert_clean()


def test_console_shows_an_image_preview_and_offers_a_10_mb_record_as_a_download(
    stack: LocalStackProcess, console: Console, api: httpx.Client, cameras: dict[str, Any]
) -> None:
    page = console.page
    console.sign_in(stack.api_key_id, stack.api_key_secret)
    console.open("Robots", "Cameras", "/camera/mono")
    page.locator("#records .record-button").first.click()

    # An image topic's record shows its preview (a WebP the browser decodes)
    image = page.locator("#record .preview img")
    image.wait_for()
    page.wait_for_function("() => document.querySelector('#record .preview img').naturalWidth > 0")
    assert image.get_attribute("src").startswith("data:image/webp;base64,")
    assert page.evaluate("document.querySelector('#record .preview img').naturalWidth") == 640
    console.screenshots.take("preview")

    # A 10 MB record is not rendered; its bytes download (a ranged read of the log object)
    page.locator("#crumbs").get_by_role("link", name="Cameras").click()
    console.open("/camera/rgb")
    page.locator("#records .record-button").first.click()
    page.locator("#record .notice").filter(has_text="too large to show here").wait_for()
    console.screenshots.take("large-record")
    assert page.locator("#record .tree").count() == 0 and page.locator("#record img").count() == 0
    with page.expect_download() as download:
        page.get_by_role("button", name="Download raw bytes").click()
    saved = Path(download.value.path()).read_bytes()
    topic = data(api.get("/topics", params={"log_id": cameras["id"], "name": "/camera/rgb"}))[0]
    record = api.get(f"/topics/{topic['id']}/records", params={"limit": 1}).json()["data"][0]
    assert record["data_length"] > 10_000_000
    assert saved == cameras["content"][record["data_offset"] : record["data_offset"] + record["data_length"]]
    console.assert_clean()


# -- uploads ------------------------------------------------------------------------------------------------


def test_console_uploads_example_bag_into_a_new_log_and_watches_the_ingestion_complete(
    stack: LocalStackProcess,
    console: Console,
    api: httpx.Client,
    turtles: dict[str, Any],
    cameras: dict[str, Any],
    fixture_bags: Path,
    tmp_path: Path,
) -> None:
    page = console.page
    console.sign_in(stack.api_key_id, stack.api_key_secret)
    console.open("Robots")

    # When the user makes a log and uploads example.bag into it
    page.get_by_placeholder("Log name", exact=True).fill(f"Uploaded {time.monotonic_ns()}")
    page.get_by_role("button", name="Create log").click()
    page.locator("h1", has_text="Uploaded").wait_for()
    page.locator("input[type=file]").set_input_files(str(fixture_bags / "example.bag"))
    page.get_by_role("button", name="Upload and ingest").click()

    # Then the ingestion shows up and is followed until it completes
    states = watch_ingestion(console, "example.bag")
    console.screenshots.take("uploaded")
    assert states[-1][0] == "completed" and states[-1][1] == 1.0
    assert {"queued", "processing", "finalizing"} & {state for state, _ in states}
    assert "Uploaded example.bag; ingestion queued." in page.locator(".upload-status").inner_text()
    page.locator("#timeline svg.strip").nth(8).wait_for()
    assert page.locator("#topics tbody tr").count() == 9

    # And the progress bar moves while a bag of many parts (one a chunk here) is processed
    chunky = write_string_bag(
        tmp_path / "chatter.bag",
        [(f"/chatter{i % 3}", 1_700_000_000_000_000_000 + i * 10_000_000, "x" * 2000) for i in range(768)],
        chunk_threshold=32 * 1024,
    )
    page.locator("input[type=file]").set_input_files(str(chunky))
    page.get_by_role("button", name="Upload and ingest").click()
    states = watch_ingestion(console, "chatter.bag")
    console.screenshots.take("progress")
    moving = sorted({progress for state, progress in states if state == "processing" and 0 < progress < 1})
    assert len(moving) >= 2, states
    progresses = [progress for _, progress in states]
    assert progresses == sorted(progresses) and states[-1] == ("completed", 1.0)

    # And a file larger than a part (16 MiB) goes up in parts, each straight to storage, in order
    large = tmp_path / "large-cameras.bag"
    large.write_bytes(cameras["content"])
    assert len(cameras["content"]) > 16 * 1024 * 1024
    page.locator("input[type=file]").set_input_files(str(large))
    page.get_by_role("button", name="Upload and ingest").click()
    assert watch_ingestion(console, "large-cameras.bag")[-1] == ("completed", 1.0)
    console.screenshots.take("large-upload")
    parts = console.api_calls("/objects/large-cameras.bag/parts")
    assert len(parts) == 2
    puts = [url for url in console.requests if "partNumber=" in url and "large-cameras.bag" in url]
    assert sorted(parse_qs(urlsplit(url).query)["partNumber"][0] for url in puts) == ["1", "2"]
    assert all(not url.startswith(stack.api_url) for url in puts)  # straight to storage
    log_id = page.evaluate("location.hash").split("/")[-1]
    stored = data(api.get(f"/logs/{log_id}/objects/large-cameras.bag"))
    assert httpx.get(stored["presigned_url"], timeout=60).content == cameras["content"]
    console.assert_clean()


def watch_ingestion(console: Console, name: str) -> list[tuple[str, float]]:
    """The (state, progress bar value) the page shows for an ingestion, each time it changes."""
    row = console.page.locator("#ingestions tbody tr", has_text=name)
    row.wait_for()
    seen: list[tuple[str, float]] = []
    deadline = time.monotonic() + INGESTION_TIMEOUT_S
    while not seen or seen[-1][0] not in ("completed", "failed"):
        assert time.monotonic() < deadline, seen
        try:
            shown = (
                row.locator(".state").inner_text(timeout=2000),
                float(row.locator("progress").get_attribute("value", timeout=2000)),
            )
        except Exception:  # the table is being redrawn
            continue
        if not seen or seen[-1] != shown:
            seen.append(shown)
        console.page.wait_for_timeout(100)
    return seen


def test_console_links_an_mcap_object_to_foxglove_by_its_presigned_url(
    stack: LocalStackProcess, console: Console, api: httpx.Client, fixture_logs: Path
) -> None:
    mcap = (fixture_logs / "json-mouse-events.mcap").read_bytes()
    group = fetch_or_create(api, "/groups", {"name": "Robots"})
    log = fetch_or_create(api, "/logs", {"group_id": group["id"], "name": "Recordings"})
    upload(api, log["id"], "mouse.mcap", mcap)

    page = console.page
    console.sign_in(stack.api_key_id, stack.api_key_secret)
    console.open("Robots", "Recordings")
    link = page.get_by_role("link", name="Open in Foxglove")
    link.wait_for()
    console.screenshots.take("foxglove-link")

    href = link.get_attribute("href")
    assert href.startswith("https://app.foxglove.dev/?ds=remote-file&ds.url=")
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")
    (presigned,) = parse_qs(urlsplit(href).query)["ds.url"]
    # The URL Foxglove is given reads the object, from Foxglove's origin, with ranges
    read = httpx.get(
        presigned, headers={"Origin": "https://app.foxglove.dev", "Range": "bytes=0-7"}, timeout=30
    )
    assert read.status_code == 206 and read.content == mcap[:8]
    assert read.headers["access-control-allow-origin"] in ("*", "https://app.foxglove.dev")
    console.assert_clean()


# -- labels, tags and digestions -------------------------------------------------------------------------


def iso(timestamp: int) -> str:
    """A nanosecond timestamp as the console writes it (ISO 8601 with nanoseconds)."""
    seconds, fraction = divmod(timestamp, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{fraction:09d}Z"


def test_console_shows_each_logs_labels_and_filters_logs_by_two_labels(
    stack: LocalStackProcess, console: Console, api: httpx.Client
) -> None:
    # Given five logs carrying none, one, two or three of three labels
    suffix = uuid4().hex[:8]
    group = data(api.post("/groups", json={"name": f"Labelled {suffix}"}))
    labels = {
        name: data(api.post("/labels", json={"value": f"{name} {suffix}", "category": "events"}))
        for name in ("braking", "dropout", "night")
    }
    carrying = {
        "All three": ("braking", "dropout", "night"),
        "Braking and dropout": ("braking", "dropout"),
        "Braking only": ("braking",),
        "Dropout only": ("dropout",),
        "Untagged": (),
    }
    logs = {}
    for name, names in carrying.items():
        logs[name] = data(api.post("/logs", json={"group_id": group["id"], "name": name}))
        for label in names:
            data(api.post(f"/logs/{logs[name]['id']}/tags", json={"label_id": labels[label]["id"]}))
    # A label tagged twice on a log (here, a time range of it too) is shown once
    data(
        api.post(
            f"/logs/{logs['Braking only']['id']}/tags",
            json={"label_id": labels["braking"]["id"], "start_time": 1, "end_time": 2},
        )
    )

    page = console.page
    console.sign_in(stack.api_key_id, stack.api_key_secret)
    console.open(group["name"])

    # Then each log shows its labels, from its tags, one call per log shown
    page.wait_for_function("() => document.querySelectorAll('#logs .labels[data-loaded]').length === 5")
    console.screenshots.take("labels")
    shown = {
        row.locator("td").first.inner_text(): row.locator(".label").all_inner_texts()
        for row in page.locator("#logs tbody tr").all()
    }
    assert shown == {
        name: sorted(f"events: {label} {suffix}" for label in names) for name, names in carrying.items()
    }
    tag_calls = [urlsplit(url).path for url in console.api_calls("/tags?")]
    assert sorted(tag_calls) == sorted(
        f"{urlsplit(stack.base()).path}/logs/{log['id']}/tags" for log in logs.values()
    )

    # When the user ticks two labels with the keyboard and filters
    for name in ("braking", "dropout"):
        page.get_by_role("checkbox", name=f"events: {name} {suffix}").focus()
        page.keyboard.press("Space")
    page.get_by_role("button", name="Filter by labels").focus()
    page.keyboard.press("Enter")

    # Then exactly the logs carrying both are listed, asked for with both labels
    page.wait_for_url(re.compile(r"labels="))
    page.wait_for_function("() => document.querySelectorAll('#logs tbody tr').length === 2")
    page.wait_for_function("() => document.querySelectorAll('#logs .labels[data-loaded]').length === 2")
    console.screenshots.take("filtered-by-labels")
    names = page.locator("#logs tbody tr td:first-child").all_inner_texts()
    assert sorted(names) == ["All three", "Braking and dropout"]
    asked = parse_qs(urlsplit(console.api_calls("/logs?")[-1]).query)
    assert sorted(asked["tag_label_ids_includes"]) == sorted(
        [labels["braking"]["id"], labels["dropout"]["id"]]
    )
    assert asked["group_id"] == [group["id"]]
    expected = api.get(
        "/logs",
        params={
            "group_id": group["id"],
            "tag_label_ids_includes": [labels["braking"]["id"], labels["dropout"]["id"]],
        },
    ).json()
    assert sorted(log["name"] for log in expected["data"]) == sorted(names)
    assert page.get_by_role("checkbox", name=f"events: braking {suffix}").is_checked()
    assert not page.get_by_role("checkbox", name=f"events: night {suffix}").is_checked()
    assert "Carrying every one of:" in page.locator("#label-filter-status").inner_text()

    # And a third label narrows it to the one log carrying all three; "Clear labels" lists all again
    page.get_by_role("checkbox", name=f"events: night {suffix}").check()
    page.get_by_role("button", name="Filter by labels").click()
    page.wait_for_function("() => document.querySelectorAll('#logs tbody tr').length === 1")
    assert page.locator("#logs tbody tr td:first-child").inner_text() == "All three"
    page.get_by_role("button", name="Clear labels").click()
    page.wait_for_function("() => document.querySelectorAll('#logs tbody tr').length === 5")

    # A label id the API refuses is shown as the API's "[Name] message"
    refused = api.get("/logs", params={"group_id": group["id"], "tag_label_ids_includes": "not-a-label"})
    assert refused.status_code == 400
    page.goto(f"{console.url}#/groups/{group['id']}?labels=not-a-label")
    page.get_by_role("heading", name="Something went wrong").wait_for()
    assert page.locator("#alerts .alert .text").inner_text() == refused.json()["message"]
    assert refused.json()["message"].startswith("[")
    console.problems = [p for p in console.problems if "400" not in p]  # the browser logs the answer
    console.assert_clean()


def test_console_lists_a_logs_tags_marks_them_on_the_timeline_and_jumps_to_their_records(
    stack: LocalStackProcess, console: Console, api: httpx.Client, turtles: dict[str, Any]
) -> None:
    # Given a tag of 2 s of /turtle1/pose, 5 s into the log
    log = data(api.get(f"/logs/{turtles['id']}"))
    pose = data(api.get("/topics", params={"log_id": log["id"], "name": "/turtle1/pose"}))[0]
    label = data(api.post("/labels", json={"value": f"turn {uuid4().hex[:8]}"}))
    start, end = log["start_time"] + 5_000_000_000, log["start_time"] + 7_000_000_000
    tag = data(
        api.post(
            f"/logs/{log['id']}/tags",
            json={"label_id": label["id"], "topic_id": pose["id"], "start_time": start, "end_time": end},
        )
    )
    try:
        expected = api.get(
            f"/topics/{pose['id']}/records", params={"tag_id": tag["id"], "limit": 1000}
        ).json()
        inside = [record["timestamp"] for record in expected["data"]]
        assert 50 < expected["count"] == len(inside) < pose["record_count"]
        assert start <= inside[0] and inside[-1] <= end

        page = console.page
        console.sign_in(stack.api_key_id, stack.api_key_secret)
        console.open("Robots", "Turtles")

        # Then the tag is listed with its label, topic and time range
        row = page.locator("#tags tbody tr")
        row.wait_for()
        assert row.count() == 1
        cells = row.locator("td").all_inner_texts()
        assert cells[:4] == [label["value"], "/turtle1/pose", iso(start), iso(end)]
        # And marked on the timeline: over its window, and on /turtle1/pose's strip only
        mark = page.locator(f'#timeline a.tag-mark[data-tag-id="{tag["id"]}"]')
        mark.wait_for()
        page.locator("#timeline svg.strip").nth(8).wait_for()
        page.locator("#timeline").scroll_into_view_if_needed()
        console.screenshots.take("tags")
        span = log["end_time"] + 1 - log["start_time"]
        left = mark.evaluate("mark => parseFloat(mark.style.left)")
        assert abs(left - 100 * (start - log["start_time"]) / span) < 0.01
        tagged = page.locator("#timeline svg.strip").evaluate_all(
            "strips => strips.map((strip) => [strip.closest('[data-topic-row]').dataset.topicRow,"
            " strip.dataset.tagged])"
        )
        assert {name: count for name, count in tagged if count != "0"} == {"/turtle1/pose": "1"}

        # When the user presses Enter on the mark
        mark.focus()
        page.keyboard.press("Enter")

        # Then the topic's records in the tag's window are listed, asked for with tag_id
        page.get_by_role("heading", name="/turtle1/pose").wait_for()
        status = page.locator("#records .page-status")
        status.filter(has_text=f"1\u201350 of {expected['count']:,}").wait_for()
        console.screenshots.take("tag-records")
        assert page.locator("#records .record-button").first.inner_text() == iso(inside[0])
        asked = [parse_qs(urlsplit(url).query) for url in console.api_calls(f"/topics/{pose['id']}/records?")]
        assert asked and all(query["tag_id"] == [tag["id"]] for query in asked)
        assert label["value"] in page.locator("#tag-window").inner_text()
        # And its last page ends with the window's last record
        page.locator("#records").get_by_role("button", name="Last").click()
        count = expected["count"]
        status.filter(has_text=f"{(count - 1) // 50 * 50 + 1}\u2013{count} of {count}").wait_for()
        assert page.locator("#records .record-button").last.inner_text() == iso(inside[-1])

        # The Tags table's link goes there too
        page.go_back()
        page.locator("#tags").get_by_role(
            "link", name=f"Records of {label['value']} on /turtle1/pose"
        ).click()
        status.filter(has_text=f"1\u201350 of {expected['count']:,}").wait_for()
        console.assert_clean()
    finally:
        api.delete(f"/tags/{tag['id']}")
        api.delete(f"/labels/{label['id']}")


def wait_for_digestion(api: httpx.Client, digestion_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + INGESTION_TIMEOUT_S
    while True:
        digestion = data(api.get(f"/digestions/{digestion_id}"))
        if digestion["state"] in ("completed", "failed"):
            return digestion
        assert time.monotonic() < deadline, digestion
        time.sleep(0.3)


def test_console_lists_digestions_and_opens_an_mcap_export_in_foxglove(
    stack: LocalStackProcess, console: Console, api: httpx.Client, tmp_path: Path
) -> None:
    # Given a log of a small bag
    messages = [
        (f"/chatter{i % 2}", 1_700_000_000_000_000_000 + i * 10_000_000, f"hello {i}") for i in range(200)
    ]
    bag = write_string_bag(tmp_path / "chatter.bag", messages)
    log = ingest(api, "Digests", f"Chatter {uuid4().hex[:8]}", "chatter.bag", bag.read_bytes())
    topic = data(api.get("/topics", params={"log_id": log["id"], "name": "/chatter0"}))[0]

    def digest(name: str) -> str:
        created = data(
            api.post(
                "/digestions",
                json={"log_id": log["id"], "name": name, "context": {"export": {"format": "mcap"}}},
            )
        )
        data(api.post(f"/digestions/{created['id']}/topics", json={"topic_id": topic["id"]}))
        data(api.patch(f"/digestions/{created['id']}", json={"state": "queued"}))
        return str(created["id"])

    # When the user, on the log's page, refreshes its digestions while one runs
    page = console.page
    console.sign_in(stack.api_key_id, stack.api_key_secret)
    console.open("Digests", log["name"])
    page.locator("#digestions").filter(has_text="No digestion yet").wait_for()
    page.evaluate("window.notReloaded = true")
    clip_id = digest("clip")
    page.get_by_role("button", name="Refresh digestions").click()

    # Then the page follows it until it completes, and its export's links appear without a reload
    done = page.locator("#digestions tbody tr", has_text="clip")
    states = []
    deadline = time.monotonic() + INGESTION_TIMEOUT_S
    while not states or states[-1] not in ("completed", "failed"):
        assert time.monotonic() < deadline, states
        try:
            state = done.locator(".state").inner_text(timeout=2000)
        except Exception:  # the table is being redrawn
            continue
        if not states or states[-1] != state:
            states.append(state)
        page.wait_for_timeout(100)
    assert states[-1] == "completed" and len(states) > 1, states
    link = done.get_by_role("link", name="Open in Foxglove")
    link.wait_for()
    assert page.evaluate("window.notReloaded") is True
    assert "100%" in done.inner_text() and "export.mcap" in done.inner_text()
    clip = data(api.get(f"/digestions/{clip_id}"))
    export = clip["context"]["export"]
    assert export["key"] == f"digestions/{clip_id}/export.mcap" and export["message_count"] == 100
    page.locator("#objects tbody tr", has_text="export.mcap").wait_for()  # the objects read again

    # Given a second digestion that failed (its source file deleted)
    assert api.delete(f"/logs/{log['id']}/objects/chatter.bag").status_code == 204
    broken = wait_for_digestion(api, digest("broken"))
    assert broken["state"] == "failed" and broken["error_name"], broken
    page.reload()

    # Then both are listed: the failed one with its error, the completed one with its export's links
    failed = page.locator("#digestions tbody tr", has_text="broken")
    failed.wait_for()
    assert "failed" in failed.inner_text()
    assert f"[{broken['error_name']}] {broken['error_message']}" in failed.inner_text()
    assert failed.get_by_role("link").count() == 0
    assert "No mcap file: the digestion failed" in failed.inner_text()
    link.wait_for()
    console.screenshots.take("digestions")
    assert "completed" in done.inner_text()

    # And the Foxglove link gives the export's presigned URL, which answers ranged reads from Foxglove
    href = link.get_attribute("href")
    assert href.startswith("https://app.foxglove.dev/?ds=remote-file&ds.url=")
    (presigned,) = parse_qs(urlsplit(href).query)["ds.url"]
    assert f"/logs/{log['id']}/{export['key']}" in urlsplit(presigned).path
    assert done.get_by_role("link", name="Download").get_attribute("href") == presigned
    origin = {"Origin": "https://app.foxglove.dev"}
    head = httpx.get(presigned, headers={**origin, "Range": "bytes=0-7"}, timeout=30)
    assert head.status_code == 206 and head.content == b"\x89MCAP0\r\n"
    assert head.headers["content-range"] == f"bytes 0-7/{export['size']}"
    assert head.headers["access-control-allow-origin"] in ("*", "https://app.foxglove.dev")
    size = export["size"]
    tail = httpx.get(presigned, headers={**origin, "Range": f"bytes={size - 8}-{size - 1}"}, timeout=30)
    assert tail.status_code == 206 and tail.content == b"\x89MCAP0\r\n"
    console.assert_clean()


# -- keys, roles and what the page will not do -------------------------------------------------------


def test_console_read_key_disables_writes_and_the_apis_403_is_shown_when_tried(
    stack: LocalStackProcess, console: Console, api: httpx.Client, broken: dict[str, Any]
) -> None:
    page = console.page
    # Given a key with the read role
    reader = create_key(api, "read")
    console.sign_in(reader["id"], reader["secret"])

    # Then every change is disabled, saying why
    assert "(read)" in page.locator("#who").inner_text()
    assert page.get_by_role("button", name="Create group").is_disabled()
    assert page.get_by_text("This key has the read role: changes are disabled.").is_visible()
    console.open("Robots", "Broken")
    page.locator("#ingestions tbody tr").first.wait_for()
    assert page.get_by_role("button", name="Queue again").is_disabled()
    assert page.get_by_role("button", name="Upload and ingest").is_disabled()
    assert page.locator("input[type=file]").is_disabled()
    console.screenshots.take("read-only")

    # Given a write key that loses its write role while the page is open
    writer = create_key(api, "write")
    page.get_by_role("button", name="Sign out").click()
    console.sign_in(writer["id"], writer["secret"])
    data(api.patch(f"/apiKeys/{writer['id']}", json={"role": "read"}))
    page.get_by_placeholder("Group name", exact=True).fill("Not allowed")
    page.get_by_role("button", name="Create group").click()

    # Then the API's 403 is shown as it came
    page.locator("#alerts .alert").wait_for()
    console.screenshots.take("forbidden")
    assert (
        page.locator("#alerts")
        .inner_text()
        .startswith("[Forbidden] A read key cannot POST /groups: it needs the write role.")
    )
    assert api.get("/groups", params={"name": "Not allowed"}).json()["count"] == 0
    console.problems = [p for p in console.problems if "403" not in p]  # the browser logs the refusal
    console.assert_clean()


def test_console_shows_html_in_names_notes_and_messages_as_text(
    stack: LocalStackProcess, console: Console, api: httpx.Client, tmp_path: Path
) -> None:
    # Given a group, a log, notes and a message whose text is HTML
    message = "<img src=x onerror=alert(4)><script>alert(5)</script>"
    bag = write_string_bag(tmp_path / "html.bag", [("/chatter", 1_700_000_000_000_000_000, message)])
    group = fetch_or_create(api, "/groups", {"name": XSS})
    group = data(api.patch(f"/groups/{group['id']}", json={"note": "<script>alert(2)</script>"}))
    log = ingest(api, XSS, "<b onmouseover=alert(3)>bold</b>", "html.bag", bag.read_bytes())
    data(api.patch(f"/logs/{log['id']}", json={"note": XSS}))
    # And a label whose value and category are HTML, tagging the log and a range of its topic
    label = fetch_or_create(api, "/labels", {"value": "<img src=x onerror=alert(6)>", "category": "<i>c</i>"})
    chatter = data(api.get("/topics", params={"log_id": log["id"], "name": "/chatter"}))[0]
    if not data(api.get(f"/logs/{log['id']}/tags")):
        data(
            api.post(
                f"/logs/{log['id']}/tags",
                json={"label_id": label["id"], "topic_id": chatter["id"], "start_time": 1, "end_time": 2},
            )
        )
    label_text = f"{label['category']}: {label['value']}"

    page = console.page
    console.sign_in(stack.api_key_id, stack.api_key_secret)
    page.get_by_role("link", name=XSS).click()
    page.get_by_role("heading", name=XSS).wait_for()
    assert page.locator("main .note").inner_text() == group["note"]
    page.locator("#logs .labels[data-loaded]").wait_for()
    assert page.locator("#logs .label").all_inner_texts() == [label_text]
    assert page.get_by_role("checkbox", name=label_text).count() == 1
    page.get_by_role("link", name=log["name"]).click()
    page.get_by_role("heading", name=log["name"]).wait_for()
    page.locator("#tags tbody tr").wait_for()
    assert page.locator("#tags tbody tr td").first.inner_text() == label_text
    page.locator("#timeline .tag-mark").filter(has_text=label_text).wait_for()
    page.mouse.move(200, 80)
    page.wait_for_timeout(300)
    console.screenshots.take("html-as-text")

    # Then it reads as the text it is, and no script ran
    assert page.locator("main .note").inner_text() == XSS
    assert XSS in page.locator("#crumbs").inner_text()
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("main b, main i, main script").count() == 0

    # And so does a message's string in its tree
    console.open("/chatter")
    page.locator("#records .record-button").first.click()
    tree = page.locator("#record .tree")
    tree.wait_for()
    console.screenshots.take("message-as-text")
    assert f"data: {json.dumps(message)}" in tree.inner_text().splitlines()  # a string, quoted as JSON
    assert page.locator('img[src="x"]').count() == 0 and page.locator("main script").count() == 0
    page.wait_for_timeout(300)
    assert console.dialogs == []
    console.assert_clean()


def test_console_policy_is_strict_and_enforced_by_the_browser(
    stack: LocalStackProcess, console: Console
) -> None:
    page = console.page
    response = page.goto(console.url)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "default-src 'none';" in policy
    assert f"connect-src 'self' {stack.exports['OPENLQS_S3_ENDPOINT']};" in policy
    page.locator("#key-id").wait_for()

    # An inline script, or a call to another origin, is refused by the browser, and the page says so
    ran = page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.inlineRan = true";
            document.body.append(script);
            return window.inlineRan === true;
        }"""
    )
    refused = page.evaluate(
        "() => fetch('http://127.0.0.1:9/elsewhere')"
        ".then(() => 'sent', (error) => 'refused: ' + error.message)"
    )
    page.locator("#alerts .alert", has_text="[ContentSecurityPolicy]").first.wait_for()
    console.screenshots.take("policy")
    assert ran is False
    assert refused.startswith("refused")


# -- Firefox ------------------------------------------------------------------------------------------------


def test_console_in_firefox_signs_in_opens_a_log_pages_records_and_plots(
    stack: LocalStackProcess, api: httpx.Client, turtles: dict[str, Any], firefox_page: FirefoxPage
) -> None:
    from marionette_driver.keys import Keys

    page = firefox_page
    fetch_or_create(api, "/groups", {"name": XSS})
    page.goto(stack.console_url)
    page.element("#key-id")
    page.screenshot("sign-in")

    # A wrong key shows the API's 401 message
    page.type("#key-id", stack.api_key_id)
    page.type("#key-secret", "not-the-secret" + Keys.ENTER)
    shown = page.wait(
        "const text = document.querySelector('#signin-status').textContent;"
        "return text.startsWith('[Unauthorized]') && text"
    )
    assert shown == UNAUTHORIZED
    page.screenshot("wrong-key")

    # The right one signs in, kept in session storage only
    page.js("document.querySelector('#key-secret').value = ''")
    page.type("#key-secret", stack.api_key_secret + Keys.ENTER)
    page.wait("return [...document.querySelectorAll('main a')].some((a) => a.textContent === 'Robots')")
    assert page.js("return Object.values(sessionStorage)") == [
        base64.b64encode(f"{stack.api_key_id}:{stack.api_key_secret}".encode()).decode()
    ]
    assert page.js("return localStorage.length") == 0
    # HTML in a name is text
    assert XSS in page.js("return document.querySelector('main table').textContent")
    assert page.js("return document.querySelectorAll('img[src=\"x\"], main table img').length") == 0
    page.screenshot("groups")

    # The log of example.bag: its completed ingestion, 9 topics and their timeline
    page.click(f'main a[href="#/groups/{turtles["group"]["id"]}"]')
    page.click(f'main a[href="#/logs/{turtles["id"]}"]')
    page.wait("return document.querySelectorAll('#timeline svg.strip').length === 9")
    assert "completed" in page.js("return document.querySelector('#ingestions tbody').textContent")
    covered = page.js(
        "return Object.fromEntries([...document.querySelectorAll('#timeline [data-topic-row]')]"
        ".map((row) => [row.dataset.topicRow, Number(row.querySelector('svg').dataset.covered)]))"
    )
    assert sorted(covered) == sorted(EXAMPLE_BAG_TOPIC_COUNTS) and covered["/turtle1/pose"] > 190
    page.screenshot("log")

    # /turtle1/pose: two pages, a record chosen with the keyboard, its tree
    topic = data(api.get("/topics", params={"log_id": turtles["id"], "name": "/turtle1/pose"}))[0]
    page.click(f'#topics a[href="#/topics/{topic["id"]}"]')
    status = "return document.querySelector('#records .page-status')?.textContent"
    assert page.wait(status + " === '1\u201350 of 1,344'")
    page.js("[...document.querySelectorAll('#records button')].find((b) => b.textContent === 'Next').click()")
    assert page.wait(status + " === '51\u2013100 of 1,344'")
    page.element("#records tbody tr:nth-child(3) .record-button").send_keys(Keys.ENTER)
    text = page.wait("return document.querySelector('#record .tree')?.innerText")
    record = api.get(f"/topics/{topic['id']}/records", params={"limit": 1, "offset": 52}).json()["data"][0]
    assert f"({record['timestamp']})" in page.js("return document.querySelector('#record').innerText")
    assert re.search(r"^x: [\d.]+$", text, re.M), text
    page.screenshot("record")

    # The plot of x has points
    page.click('#plot select option[value="x"]')
    page.click("#plot button[type=submit]")
    points = page.wait("return document.querySelector('#plot canvas')?.dataset.points")
    assert 500 <= int(points) <= 1344
    page.js("document.querySelector('#plot canvas').scrollIntoView()")
    page.screenshot("plot")

    # Nothing went wrong, nothing is wider than the window; the policy refuses an inline script
    assert page.js("return document.querySelector('#alerts').textContent") == ""
    assert page.js("return document.documentElement.scrollWidth <= window.innerWidth")
    ran = page.js(
        "const script = document.createElement('script');"
        "script.textContent = 'window.inlineRan = true';"
        "document.body.append(script);"
        "return window.inlineRan === true"
    )
    assert ran is False
    page.wait("return document.querySelector('#alerts').textContent.includes('[ContentSecurityPolicy]')")

    # Signing out forgets the key
    page.click("#sign-out")
    page.element("#key-id")
    assert page.js("return sessionStorage.length") == 0
