#!/usr/bin/env bash
# Where Bulwark's journey CPU goes, per journey (what README.md's "profile" section quotes):
# database transactions and tuples (PostgreSQL: pg_stat_database), voluntary context switches of
# the server's threads (/proc/<pid>/task/*/status), syscalls (strace -c on the server for 5 s of
# a second run; strace slows the server, only the counts per journey are used). Journeys in an
# interval are the generator's measured rate times the interval.
#
#   bench/journey-load/diag.sh pg|sqlite [PS256|ES256] [concurrency]
#
# Env: BIN (target/release/bulwark), CARGO_TARGET_DIR (/tmp/journey-load-target: the generator
# must be built, run.sh does it), PEERS_PKI (/tmp/peers-pki), SERVER_CPU (1), CLIENT_CPU (0),
# PG_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres). Uses database journey_diag
# (created and dropped) and /tmp/journey-load-diag-<db>/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DB="${1:?pg or sqlite}"; ALG="${2:-PS256}"; CONC="${3:-8}"
BIN="${BIN:-$ROOT/target/release/bulwark}"
GEN="${CARGO_TARGET_DIR:-/tmp/journey-load-target}/release/journey-load"
PKI="${PEERS_PKI:-/tmp/peers-pki}"
SERVER_CPU="${SERVER_CPU:-1}"; CLIENT_CPU="${CLIENT_CPU:-0}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PGDB=journey_diag
OUT="/tmp/journey-load-diag-$DB"; rm -rf "$OUT"; mkdir -p "$OUT/work"
work="$OUT/work"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
dburl=""
if [[ "$DB" == pg ]]; then
  psql "$PG_ADMIN_URL" -qAtc "drop database if exists $PGDB with (force)" 2>/dev/null
  psql "$PG_ADMIN_URL" -qAtc "create database $PGDB"
  dburl="url = \"${PG_ADMIN_URL%/*}/$PGDB\""
fi
cat > "$work/bulwark.toml" <<TOML
issuer = "https://localhost:$port"
data_dir = "$work/data"
[http]
listen = "127.0.0.1:$port"
[database]
$dburl
[tokens]
access_token_alg = "$ALG"
[authorization]
session_lifetime_secs = 3600
TOML
openssl pkey -in "$PKI/client-jwt.key" -pubout -out "$work/pub.pem"
cat > "$work/client.json" <<'JSON'
{"client_id": "bench-client", "client_name": "Journey load TPP",
 "token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256",
 "grant_types": ["client_credentials", "authorization_code", "refresh_token"], "response_types": ["code"],
 "redirect_uris": ["https://127.0.0.1/cb"], "scope": "openid accounts", "id_token_signed_response_alg": "PS256",
 "tls_client_certificate_bound_access_tokens": true, "resource_server": true}
JSON
"$BIN" --config "$work/bulwark.toml" clients add --metadata "$work/client.json" --public-key-pem "$work/pub.pem" --kid bench-client-es256 >/dev/null
taskset -c "$SERVER_CPU" "$BIN" --config "$work/bulwark.toml" serve > "$OUT/server.log" 2>&1 &
SPID=$!
trap 'kill $SPID 2>/dev/null || true; wait $SPID 2>/dev/null || true; [[ $DB == pg ]] && psql "$PG_ADMIN_URL" -qAtc "drop database if exists $PGDB with (force)" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 150); do curl -sf -o /dev/null --cacert "$work/data/dev-pki/ca.pem" "https://localhost:$port/.well-known/openid-configuration" && break; sleep 0.2; done

gen() { # LABEL WARMUP DURATION POOL -> background generator, waits for the end of its setup
  local dbargs=()
  [[ "$DB" == pg ]] && dbargs=(--db-match "$PGDB" --pin-db-cpus "$SERVER_CPU")
  : > "$OUT/$1.err"
  taskset -c "$CLIENT_CPU" "$GEN" --target bulwark --issuer "https://localhost:$port" --ca "$work/data/dev-pki/ca.pem" \
    --cert "$work/data/dev-pki/client.pem" --key "$work/data/dev-pki/client-key.pem" --client-key "$PKI/client-jwt.key" \
    --kid bench-client-es256 --username demo --password "$(sed -n 's/^password: //p' "$work/data/demo-psu.txt")" \
    --concurrency "$CONC" --warmup "$2" --duration "$3" --pool "$4" --server-pid "$SPID" "${dbargs[@]}" --label "$1" \
    > "$OUT/$1.json" 2>> "$OUT/$1.err" &
  GPID=$!
  for _ in $(seq 600); do grep -q "setup done" "$OUT/$1.err" && break; sleep 0.2; done
}
# Journeys in an interval: the generator's measured rate times the interval (the server logs
# no line per journey at its default level; its security events go to the audit trail).
journeys_in() { python3 -c "import json; print(round(json.load(open('$OUT/$1.json'))['journeys_per_s'] * $2))"; }
ctx() { cat /proc/"$SPID"/task/*/status | awk '/^voluntary_ctxt_switches/{a+=$2} /^nonvoluntary_ctxt_switches/{b+=$2} END{print a" "b}'; }
pgstat() { psql "$PG_ADMIN_URL" -qAtc "select xact_commit, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted from pg_stat_database where datname='$PGDB'"; }

# 1. counters over 8 s of a normal run
gen diag 3 8 6000
sleep 3
c0=$(ctx); p0=""; [[ "$DB" == pg ]] && p0=$(pgstat)
sleep 8
c1=$(ctx); p1=""; [[ "$DB" == pg ]] && p1=$(pgstat)
wait "$GPID" || true
n=$(journeys_in diag 8)
echo "== Bulwark $DB $ALG c=$CONC: $n journeys in the counted interval; generator: $(python3 -c "import json; r=json.load(open('$OUT/diag.json')); print(f\"{r['journeys_per_s']} journeys/s, server {r['server_cpu_ms_per_journey']} ms CPU/journey, db {r['db_cpu_ms_per_journey']} ms\")")"
read -r v0 nv0 <<< "$c0"; read -r v1 nv1 <<< "$c1"
echo "context switches of the server's threads per journey: voluntary $(python3 -c "print(round(($v1-$v0)/$n,1))"), involuntary $(python3 -c "print(round(($nv1-$nv0)/$n,1))")"
if [[ "$DB" == pg ]]; then
  python3 - "$p0" "$p1" "$n" <<'PY'
import sys
a=[int(x) for x in sys.argv[1].split('|')]; b=[int(x) for x in sys.argv[2].split('|')]; n=int(sys.argv[3])
print("per journey (pg_stat_database): " + ", ".join(f"{k} {(y-x)/n:.1f}" for k,x,y in zip("commits returned fetched inserted updated deleted".split(),a,b)))
PY
fi
# 2. syscalls per journey
gen diag-strace 2 12 4000
sleep 2
timeout -s INT 5 strace -f -c -p "$SPID" -o "$OUT/strace.txt" 2>/dev/null || true
wait "$GPID" || true
n=$(journeys_in diag-strace 5)
echo "syscalls per journey (strace -c -f, $n journeys):"
python3 - "$OUT/strace.txt" "$n" <<'PY'
import sys
n = int(sys.argv[2]); rows = []
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) >= 5 and p[3].isdigit() and p[-1] != 'total':
        rows.append((int(p[3]) / n, p[-1]))
print("  " + ", ".join(f"{name} {v:.1f}" for v, name in sorted(rows, reverse=True) if v >= 0.5))
PY
