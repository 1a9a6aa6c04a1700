"""schemathesis hooks for the shortener (loaded by ops/hostile/schemathesis.sh via SCHEMATHESIS_HOOKS).

Generated bodies stay inside what a schema can say, and a schema cannot say "a date-time whose
UTC year has four digits": `9999-12-31T23:59:59-23:59` is a valid date-time that is in the year
10000 once in UTC. So the bodies of the link-writing operations are sometimes given a date or a
number at or past the API's bounds (UTC years 0001-9999, click limits up to 2^53 - 1), and the
check `json_values_in_range` fails any answer that echoes a date-time that is not RFC 3339 (a
five-digit or signed year) or an integer no JSON reader holds exactly (past 2^53 - 1).
"""

import re

import schemathesis
from hypothesis import strategies as st

# Dates at and past the bounds, offsets included: refused (422) or echoed as RFC 3339.
DATES = [
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:30:00-01:00",
    "9999-12-31T23:59:59.999999-00:01",
    "10000-01-01T00:00:00Z",
    "+10000-01-01T00:00:00Z",
    "0000-12-31T23:59:59Z",
    "0001-01-01T00:00:00+00:01",
    "0001-01-01T00:00:00Z",
]
# Click limits at and past 2^53 - 1.
NUMBERS = [2**53 - 1, 2**53, 2**63 - 1, 2**64]

WRITES = {("POST", "/api/v1/links"), ("PATCH", "/api/v1/links/{code}")}


def _with(body, field):
    def put(value):
        out = dict(body)
        out[field] = value
        return out

    return put


@schemathesis.hook
def flatmap_body(ctx, body):
    op = ctx.operation
    if op is None or (op.method.upper(), op.path) not in WRITES or not isinstance(body, dict):
        return st.just(body)
    return st.one_of(
        st.just(body),
        st.sampled_from(DATES).map(_with(body, "expires_at")),
        st.sampled_from(NUMBERS).map(_with(body, "max_clicks")),
    )


LOOKS_LIKE_DATE_TIME = re.compile(r"^[+-]?\d{4,}-\d{2}-\d{2}T")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
MAX_EXACT = 2**53 - 1


def _walk(value, path, problems):
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(v, f"{path}.{k}", problems)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk(v, f"{path}[{i}]", problems)
    elif isinstance(value, str):
        if LOOKS_LIKE_DATE_TIME.match(value) and not RFC3339.match(value):
            problems.append(f"{path} = {value!r} is not an RFC 3339 date-time")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_EXACT:
        problems.append(f"{path} = {value} is past 2^53 - 1")


@schemathesis.check
def json_values_in_range(ctx, response, case):
    """Every date-time answered is RFC 3339 and every integer is exact in any JSON reader."""
    if "json" not in (response.headers.get("content-type") or [""])[0]:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    problems = []
    _walk(data, "$", problems)
    if problems:
        raise AssertionError("; ".join(problems))
    return None


# The run's own key and member (the first of a fresh database): revoking or removing them would
# turn the rest of the run into 401s, testing nothing.
OWN = {("DELETE", "/api/v1/keys/{id}"), ("DELETE", "/api/v1/members/{id}"), ("PATCH", "/api/v1/members/{id}")}


@schemathesis.hook
def filter_path_parameters(ctx, path_parameters):
    op = ctx.operation
    if op is None or (op.method.upper(), op.path) not in OWN or not isinstance(path_parameters, dict):
        return True
    return str(path_parameters.get("id")) != "1"
