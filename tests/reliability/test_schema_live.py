"""The API keeps to its OpenAPI schema when a real client talks to a real server.

schemathesis runs every phase (examples, coverage, fuzzing, stateful) with every check against
gunicorn on a loopback port, as a CMS client with a token (the exports, which are for people,
answer it 403) and anonymously where a check calls for it (`ignored_auth`). Once with a fixed seed
(the same cases on every run) and once with a random one (printed; SCHEMA_LIVE_SEED replays it).
The audit's in-process run missed what only a live server shows (OPTIONS answered 500, an HTML 404
for a line break in the path).
"""

from __future__ import annotations

import os
import random
import time

import pytest
import schemathesis
from django.contrib.auth.models import User
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from schemathesis.engine.statistic import Statistic
from schemathesis.specs.openapi import checks as openapi_checks
from schemathesis.specs.openapi.formats import unregister_string_format
from schemathesis.transport.serialization import Binary

from catalog.models import Genre, TrackStatus
from review.decisions import DecisionInput, decision_submit
from tests.factories import make_analysis, make_model_version, make_track
from tests.fixtures import wav_bytes
from tests.reliability.conftest import figures

pytestmark = pytest.mark.slow

FIXED_SEED = 17
# Each seed's run: with a time limit schemathesis runs every phase and stretches fuzzing and
# stateful testing to fill it (the coverage phase's cases come first); both seeds with the server's
# start take about three minutes. MAX_EXAMPLES is per operation and phase, as a floor.
MAX_SECONDS = int(os.environ.get("SCHEMA_LIVE_MAX_SECONDS", "75"))
MAX_EXAMPLES = int(os.environ.get("SCHEMA_LIVE_MAX_EXAMPLES", "40"))
# A response slower than this fails `max_response_time` (classifying a clip on a busy CI core
# takes a few seconds; nothing the schema allows should take longer).
MAX_RESPONSE_S = 20.0


@pytest.fixture
def catalog_to_read(tiny_model_version) -> None:
    """Tracks the read endpoints can find: analysed by a trained and by an untrained model (the
    latter carries a warning), one with an editor's decision (the change feed has a row), with and
    without an external id."""
    trained = make_model_version(name="trained", trained=True)
    for n, version in enumerate((trained, tiny_model_version)):
        track = make_track(status=TrackStatus.AWAITING_REVIEW, external_id=f"cms-{n}")
        make_analysis(track=track, model_version=version)
    decision_submit(
        editor=User.objects.create_user("editor"), track=track, data=DecisionInput(genre=Genre.objects.get(slug="jazz"))
    )
    make_track(status=TrackStatus.QUEUED)


@pytest.fixture
def audio_files():
    """A schema cannot say "decodable audio": the API's only uploads are audio, so generated files
    are short clips (each a different tone: new tracks, not only duplicates). Without this every
    schema-valid upload is random bytes, rightly refused with 415."""
    schemathesis.openapi.format(
        "binary", st.builds(lambda hz: wav_bytes(seconds=1.0, freq=hz, sr=8000), st.integers(100, 4000))
    )
    yield
    unregister_string_format("binary")


@pytest.fixture
def file_parts_readable(monkeypatch):
    """schemathesis (4.32.5) judges a negative multipart case by the fields as sent, but a file part
    keeps its generated `Binary`, which its JSON Schema validator cannot read: the judgement then
    fails closed, and any text field mutated to a number or an object (sent as the text "-2.3e+58"
    or "{}", which the schema allows) is reported as accepted invalid data. Stand the file in as
    "", as schemathesis itself does when it generates negative bodies (negative._strip_binary);
    the check still runs on every case."""
    judge = openapi_checks._form_body_is_valid_as_sent

    def judge_with_readable_files(response, case, media_type):
        body = case.body
        if not isinstance(body, dict) or not any(isinstance(value, Binary) for value in body.values()):
            return judge(response, case, media_type)
        case.body = {name: "" if isinstance(value, Binary) else value for name, value in body.items()}
        try:
            return judge(response, case, media_type)
        finally:
            case.body = body

    monkeypatch.setattr(openapi_checks, "_form_body_is_valid_as_sent", judge_with_readable_files)


def run_schemathesis(*, url: str, headers: dict[str, str], seed: int) -> tuple[Statistic, list[str], str]:
    """Every phase and every check; the statistic, the errors schemathesis met, why it stopped."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": seed,
            "max-time": MAX_SECONDS,
            "headers": headers,
            # One worker: schemathesis' threads compiling patterns at once hit a CPython 3.11 bug ("AST
            # constructor recursion depth mismatch").
            "workers": 1,
            "request-timeout": 60,  # the first classification in each web process loads the model
            "generation": {"max-examples": MAX_EXAMPLES},
            "checks": {
                "max_response_time": MAX_RESPONSE_S,
                # schemathesis' rejections plus the refusals for size the schema documents: 413 (an
                # anonymous body over 2 MB, an upload over the limit), gunicorn's 414 (a request line
                # over 4094 bytes).
                "negative_data_rejection": {
                    "expected-statuses": [
                        "400",
                        "401",
                        "403",
                        "404",
                        "405",
                        "406",
                        "409",
                        "413",
                        "414",
                        "415",
                        "422",
                        "428",
                        "429",
                        "5xx",
                    ]
                },
            },
        }
    )
    schema = schemathesis.openapi.from_url(f"{url}/api/schema/?format=json", config=config)
    schema.config.update(base_url=url)
    statistic, errors, stopped = Statistic(), [], "?"
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            statistic.on_scenario_finished(event.recorder)
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            raise event.exception
        elif isinstance(event, events.EngineFinished):
            stopped = event.stop_reason.value
    return statistic, errors, stopped


def describe(statistic: Statistic) -> list[str]:
    """One line per distinct failure: the operation, the check's title, what the server answered."""
    lines = []
    for label, groups in sorted(statistic.failures.items()):
        for group in groups.values():
            status = group.response.status_code if group.response is not None else "-"
            body = group.response.content[:300].decode(errors="replace") if group.response is not None else ""
            for failure in group.failures:
                lines.append(
                    f"{label} -> {status}: {failure.title}: {failure.message[:300]}\n  answer: {body}"
                    f"\n  {group.code_sample}"
                )
    return lines


@pytest.mark.parametrize("seed", [FIXED_SEED, None], ids=["fixed-seed", "random-seed"])
def test_the_live_api_keeps_to_its_schema(
    seed, catalog_to_read, audio_files, file_parts_readable, live_web, cms_headers
):
    seed = seed if seed is not None else int(os.environ.get("SCHEMA_LIVE_SEED") or random.randrange(2**32))
    print(f"\nschemathesis seed: {seed} (replay with SCHEMA_LIVE_SEED={seed})")
    started = time.monotonic()
    statistic, errors, stopped = run_schemathesis(url=live_web, headers=cms_headers, seed=seed)
    findings = describe(statistic)
    figures(
        f"live schema (seed {seed})",
        cases=statistic.total_cases,
        failures=statistic.total_failures,
        errors=len(errors),
        operations=len(statistic.tested_operations),
        seconds=round(time.monotonic() - started),
        stopped=stopped,
    )
    assert not findings and not errors, "\n".join(findings + errors)
