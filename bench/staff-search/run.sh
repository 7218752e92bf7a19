#!/usr/bin/env bash
# The staff console's consent search over 1,000,000 consents on PostgreSQL (issue "Bank staff
# console", CO-5): seeds the consents table with generate_series (realistic spread of kinds,
# statuses, clients, PSUs and dates), starts bulwark on that database, logs in as a staff
# member, and times every filter of /staff/consents through the real HTTPS listener (page and
# count), N requests each. Prints p50 / p95 / max per filter and EXPLAIN ANALYZE of the slowest
# filter's queries.
#
#   cargo build --release -p bulwark-server
#   bench/staff-search/run.sh                   # ~2 minutes; results in /tmp/staff-search/
#
# Needs psql and PostgreSQL at $PGURL (default postgres://postgres@127.0.0.1:5432).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/target/release/bulwark}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
DB=${DB:-bulwark_staff_bench}
ROWS=${ROWS:-1000000}
N=${N:-40}
PORT=${PORT:-18443}
OUT=${OUT:-/tmp/staff-search}
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
export BULWARK_DATABASE__URL="$PGURL/$DB"
export BULWARK_DATA_DIR="$WORK/data"
export BULWARK_HTTP__LISTEN="127.0.0.1:$PORT"
export BULWARK_ISSUER="https://localhost:$PORT"
export BULWARK_LOG__LEVEL=warn
"$BIN" migrate >/dev/null

echo "seeding $ROWS consents ..."
psql -q "$PGURL/$DB" <<SQL
INSERT INTO consents (id, kind, client_id, status, psu_id, body, selected_accounts,
                      idempotency_key, body_hash, created_at, status_updated_at, expires_at)
SELECT
  (ARRAY['aac-','pdc-','fcc-'])[1 + i % 3] || md5(i::text),
  (ARRAY['account-access','domestic-payment','funds-confirmation'])[1 + i % 3],
  'tpp-' || (i % 200),
  (ARRAY['Authorised','Authorised','Authorised','Revoked','Rejected','AwaitingAuthorisation',
         'Consumed','Expired'])[1 + (i / 7) % 8],
  CASE WHEN (i / 7) % 8 = 5 THEN NULL ELSE 'psu-' || (i % 50000) END,
  -- The stored form of each kind's details (what the consent crate writes).
  (ARRAY['{"Permissions":["ReadAccountsDetail","ReadBalances"],"ExpirationDateTime":null,"TransactionFromDateTime":null,"TransactionToDateTime":null,"Risk":{}}',
         '{"Initiation":{"InstructionIdentification":"ACME412","EndToEndIdentification":"FRESCO.21302.GFX.20","InstructedAmount":{"Amount":"165.88","Currency":"GBP"},"CreditorAccount":{"SchemeName":"UK.OBIE.SortCodeAccountNumber","Identification":"08080021325698","Name":"ACME Inc"}},"Risk":{"PaymentContextCode":"EcommerceGoods"}}',
         '{"ExpirationDateTime":null,"DebtorAccount":{"SchemeName":"UK.OBIE.IBAN","Identification":"GB76LOYD30949301273801","Name":"Andrea Smith"}}'])[1 + i % 3],
  '[]', NULL, NULL,
  1700000000 + i * 30,
  1700000000 + i * 30 + (i % 86400),
  CASE WHEN i % 3 = 0 THEN 1700000000 + i * 30 + 86400 * 90 ELSE NULL END
FROM generate_series(1, $ROWS) AS i;
SQL
# Settle the freshly written table (visibility map, statistics, dirty pages) so the timings
# measure the queries, not the seeding's aftermath.
psql -q "$PGURL/$DB" -c "VACUUM ANALYZE consents" -c "CHECKPOINT"

echo "staff-bench-password-1" | "$BIN" staff add bench --role viewer >/dev/null
"$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  curl -sk "https://localhost:$PORT/staff/login" -o /dev/null && break
  sleep 0.2
done

JAR="$WORK/cookies"
CURL=(curl -sk -b "$JAR" -c "$JAR")
csrf=$("${CURL[@]}" "https://localhost:$PORT/staff/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
"${CURL[@]}" -o /dev/null -d "csrf=$csrf&username=bench&password=staff-bench-password-1" \
  "https://localhost:$PORT/staff/login"

declare -A FILTERS=(
  [none]=""
  [status]="status=Revoked"
  [status_expired]="status=Expired"
  [kind]="kind=domestic-payment"
  [client]="client_id=tpp-17"
  [psu]="psu_id=psu-4242"
  [consent_id]="consent_id=aac-$(printf '%s' 300000 | md5sum | cut -d' ' -f1)"
  [created_range]="created_from=2024-01-01&created_to=2024-01-31"
  [updated_range]="updated_from=2024-03-01&updated_to=2024-03-02&sort=updated"
  [status_kind_client]="status=Authorised&kind=account-access&client_id=tpp-3"
)

# One warm-up pass over every filter (the first request of each pays for planning and cache).
for name in "${!FILTERS[@]}"; do
  "${CURL[@]}" -o /dev/null "https://localhost:$PORT/staff/consents?${FILTERS[$name]}"
done

printf '| filter | p50 ms | p95 ms | max ms | consents |\n|---|---|---|---|---|\n' | tee "$OUT/summary.md"
slowest=none; slowest_p95=0
for name in "${!FILTERS[@]}"; do
  q=${FILTERS[$name]}
  times=()
  for _ in $(seq 1 "$N"); do
    t=$("${CURL[@]}" -o "$WORK/page.html" -w '%{time_total}' "https://localhost:$PORT/staff/consents?$q")
    times+=("$t")
  done
  count=$(grep -o 'id="count">[^<]*' "$WORK/page.html" | head -1 | sed 's/.*>//')
  read -r p50 p95 max < <(printf '%s\n' "${times[@]}" | sort -n | awk -v n="$N" '
    { a[NR] = $1 * 1000 }
    END { printf "%.1f %.1f %.1f\n", a[int(n * 0.5 + 0.5)], a[int(n * 0.95 + 0.5)], a[n] }')
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$p50" "$p95" "$max" "$count" | tee -a "$OUT/summary.md"
  if awk -v a="$p95" -v b="$slowest_p95" 'BEGIN { exit !(a > b) }'; then
    slowest=$name; slowest_p95=$p95
  fi
done

echo "slowest filter: $slowest (p95 $slowest_p95 ms); its queries:" | tee -a "$OUT/summary.md"
explain() { psql -q "$PGURL/$DB" -c "EXPLAIN (ANALYZE, BUFFERS) $1" | tee -a "$OUT/summary.md"; }
case $slowest in
  created_range) W="WHERE created_at >= extract(epoch from date '2024-01-01')::bigint AND created_at < extract(epoch from date '2024-02-01')::bigint" ;;
  status_kind_client) W="WHERE status = 'Authorised' AND (expires_at IS NULL OR expires_at > extract(epoch from now())::bigint) AND kind = 'account-access' AND client_id = 'tpp-3'" ;;
  status_expired) W="WHERE (status = 'Expired' OR (status = 'Authorised' AND expires_at <= extract(epoch from now())::bigint))" ;;
  status) W="WHERE status = 'Revoked'" ;;
  kind) W="WHERE kind = 'domestic-payment'" ;;
  client) W="WHERE client_id = 'tpp-17'" ;;
  *) W="" ;;
esac
explain "SELECT id FROM consents $W ORDER BY created_at DESC, id DESC LIMIT 50"
explain "SELECT COUNT(*) FROM (SELECT 1 FROM consents $W LIMIT 10001) AS t"
