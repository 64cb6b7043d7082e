#!/usr/bin/env bash
# The whole suite twice: on the embedded defaults (SQLite, in-process cache and channel layer),
# then the fast tests again on the production column (PostgreSQL and Redis), when they are up.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST=.venv/bin/pytest
PG_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS=${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}

echo "== 1/2: SQLite, in-process cache and channel layer (all tests)"
$PYTEST "$@"
first=$?

if .venv/bin/python -m tests.services postgres redis; then
  echo "== 2/2: PostgreSQL and Redis (tests not marked slow)"
  DATABASE_URL=${PG_URL%/*}/concierge REDIS_URL=${REDIS%/*}/1 $PYTEST -m "not slow" -p no:cacheprovider "$@"
  second=$?
elif [ "${REQUIRE_SERVICES:-0}" = "1" ]; then
  echo "== 2/2: FAILED: PostgreSQL or Redis is missing and REQUIRE_SERVICES=1"
  second=1
else
  echo "== 2/2: skipped: PostgreSQL or Redis is not running (see above)"
  second=0
fi

[ $first -eq 0 ] && [ $second -eq 0 ]
