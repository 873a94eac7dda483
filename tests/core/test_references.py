"""References inside strings (core/references.py through core.policy.translate): endpoints, connection strings,
JSON in a string, user data; properties over any string."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.models import Resource
from core.policy import Translation, translate
from core.references import decode_user_data, encode_user_data
from core.scope import refer_endpoints

SRC, DST = "111111111111", "222222222222"
DB = "shop-db.abc123xyz.us-east-1.rds.amazonaws.com"
DB_NEW = "shop-db.def456uvw.us-west-2.rds.amazonaws.com"
QUEUE = f"https://sqs.us-east-1.amazonaws.com/{SRC}/shop-orders"
QUEUE_NEW = f"https://sqs.us-west-2.amazonaws.com/{DST}/shop-orders"
LB = "shop-web-1234567890.us-east-1.elb.amazonaws.com"
LB_NEW = "shop-web-0987654321.us-west-2.elb.amazonaws.com"
T = Translation(SRC, DST, "us-east-1", "us-west-2", renames={"shop-assets": "shop-assets-us-west-2"},
                endpoints={DB: DB_NEW, QUEUE: QUEUE_NEW, LB: LB_NEW,
                           "shop-assets.s3.us-east-1.amazonaws.com": "shop-assets-us-west-2.s3.us-west-2.amazonaws.com"})

CASES = [
    ("host as a whole value", DB, DB_NEW, 0),
    ("JDBC URL", f"jdbc:postgresql://{DB}:5432/app", f"jdbc:postgresql://{DB_NEW}:5432/app", 0),
    ("connection string with user", f"postgres://app@{DB}/app?sslmode=require",
     f"postgres://app@{DB_NEW}/app?sslmode=require", 0),
    ("queue URL whole", QUEUE, QUEUE_NEW, 0),
    ("queue URL in a sentence", f"send to {QUEUE} now", f"send to {QUEUE_NEW} now", 0),
    ("load balancer URL", f"http://{LB}/health", f"http://{LB_NEW}/health", 0),
    ("bucket virtual host", "https://shop-assets.s3.us-east-1.amazonaws.com/logo.png",
     "https://shop-assets-us-west-2.s3.us-west-2.amazonaws.com/logo.png", 0),
    ("regional service endpoint", "https://sqs.us-east-1.amazonaws.com", "https://sqs.us-west-2.amazonaws.com", 0),
    ("regional service endpoint with port", "sns.us-east-1.amazonaws.com:443", "sns.us-west-2.amazonaws.com:443", 0),
    ("embedded ARN", f"topic=arn:aws:sns:us-east-1:{SRC}:shop-events;x=1",
     f"topic=arn:aws:sns:us-west-2:{DST}:shop-events;x=1", 0),
    ("unknown database kept and warned", "db.other.us-east-1.rds.amazonaws.com:5432",
     "db.other.us-east-1.rds.amazonaws.com:5432", 1),
    ("unknown queue kept and warned", f"https://sqs.us-east-1.amazonaws.com/{SRC}/other",
     f"https://sqs.us-east-1.amazonaws.com/{SRC}/other", 1),
    ("a longer host is not a known one", f"x{DB}", f"x{DB}", 1),
    ("unrelated text untouched", "hello world, port 5432", "hello world, port 5432", 0),
    ("source account in a name warned", f"backup-{SRC}-logs", f"backup-{SRC}-logs", 1),
]


@pytest.mark.parametrize("name,value,expected,warnings", CASES, ids=[c[0] for c in CASES])
def test_strings_are_rewritten_to_what_the_primary_became(name, value, expected, warnings):
    done = translate({"V": value}, T)
    assert done.document == {"V": expected}
    assert len(done.warnings) == warnings, done.warnings


def test_json_in_a_string_is_translated_as_a_document():
    secret = json.dumps({"host": DB, "port": 5432, "username": "app", "password": "s3cr3t-Value!"})
    done = translate(secret, T)
    assert json.loads(done.document) == {"host": DB_NEW, "port": 5432, "username": "app", "password": "s3cr3t-Value!"}
    assert done.warnings == []


def test_a_night_keeps_what_the_failover_will_translate_without_a_warning():
    """Staging: the database is made at failover only, so tonight its address is kept; warning of it every night
    would bury the one reference that is really lost."""
    other = "db.other.us-east-1.rds.amazonaws.com"
    night = Translation(SRC, SRC, "us-east-1", "us-west-2", deferred=frozenset({DB}))
    done = translate({"URL": f"jdbc:postgresql://{DB}:5432/app", "OTHER": other}, night)
    assert done.document == {"URL": f"jdbc:postgresql://{DB}:5432/app", "OTHER": other}
    assert len(done.warnings) == 1 and other in done.warnings[0]  # what no failover translates is still warned


def test_a_warning_never_shows_the_whole_value():
    value = "password=hunter2-Secret host=db.other.us-east-1.rds.amazonaws.com"
    warnings = translate({"Env": value}, T).warnings
    assert warnings and all("hunter2" not in w for w in warnings)
    assert "$.Env" in warnings[0]


@pytest.mark.parametrize("zipped", [False, True])
def test_user_data_round_trips_through_base64_and_gzip(zipped):
    script = f"#!/bin/bash\nexport DB_HOST={DB}\nexport QUEUE={QUEUE}\n"
    encoded = encode_user_data(script, zipped)
    text, was_zipped = decode_user_data(encoded)
    assert (text, was_zipped) == (script, zipped)
    done = translate(text, T).document
    assert DB not in done and DB_NEW in done and QUEUE_NEW in done


def test_a_document_naming_an_endpoint_depends_on_its_owner():
    db = Resource(type="rds:db", source_id="shop-db", endpoints={"address": DB})
    queue = Resource(type="sqs:queue", source_id=QUEUE, endpoints={"url": QUEUE})
    fn = Resource(type="lambda:function", source_id="shop-api",
                  config={"environment": {"DB": f"jdbc:postgresql://{DB}:5432/app", "Q": QUEUE, "X": f"x{DB}"}})
    linked = {r.key: r for r in refer_endpoints([db, queue, fn])}
    assert linked[fn.key].dependencies == sorted([db.key, queue.key])
    assert linked[db.key].dependencies == []


HOSTS = st.from_regex(r"[a-z][a-z0-9-]{2,12}\.[a-z0-9]{6,12}\.us-east-1\.(rds|elb|efs)\.amazonaws\.com", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(hosts=st.lists(HOSTS, min_size=1, max_size=4, unique=True), prefix=st.sampled_from(["", "jdbc:mysql://", "https://"]),
       suffix=st.sampled_from(["", ":3306/app", "/path?q=1", " and more"]))
def test_no_known_source_endpoint_survives(hosts, prefix, suffix):
    t = Translation(SRC, DST, "us-east-1", "us-west-2",
                    endpoints={h: h.replace("us-east-1", "us-west-2").replace(".", "-new.", 1) for h in hosts})
    value = " ".join(prefix + h + suffix for h in hosts)
    done = translate({"v": value}, t)
    assert not any(h in done.document["v"] for h in hosts)
    assert done.warnings == []


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=100, deadline=None)
@given(value=TEXT)
def test_unrelated_strings_are_untouched(value):
    if "amazonaws" in value or "arn:" in value or SRC in value or "us-east-1" in value or value in T.renames:
        return
    assert translate({"v": value}, T).document == {"v": value}


@settings(max_examples=60, deadline=None)
@given(value=st.one_of(TEXT, st.sampled_from([c[1] for c in CASES])))
def test_same_region_and_account_is_the_identity(value):
    t = Translation(SRC, SRC, "us-east-1", "us-east-1")
    done = translate({"v": value}, t)
    assert done.document == {"v": value} and done.warnings == []
