#!/usr/bin/env bash
# Load benchmark of Bulwark's token endpoint (client_credentials, private_key_jwt over mTLS,
# keep-alive) and introspection, side by side with panva's certified oidc-provider, using the
# harness in ../shared/peers (its load generator pre-signs assertions, drives mTLS keep-alive
# connections at concurrency 16 and 64, and records p50/p99 and server CPU per request).
#
#   bench/token-bench.sh                 # peer (oidc-provider 9, ES256) + Bulwark ES256 and PS256
#   PEER=0 bench/token-bench.sh          # Bulwark only
#   DB=postgres bench/token-bench.sh     # Bulwark on PostgreSQL (DATABASE_URL or 127.0.0.1:5432)
#   BIN=/path/to/other/bulwark NAME=before PEER=0 OUT=<same dir> bench/token-bench.sh
#                                        # another build into the same sitting (before/after)
#   SERVER_CPUS=1 CLIENT_CPUS=0 bench/token-bench.sh   # per core: each server (peer and Bulwark)
#                                        # pinned to CPU 1, the load generator to CPU 0
#
# Results: $OUT/summary.md (default /tmp/peers-results/bulwark-<timestamp>).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="${PEERS:-$ROOT/../shared/peers}"
export PEERS_PKI="${PEERS_PKI:-/tmp/peers-pki}"
export OUT="${OUT:-/tmp/peers-results/bulwark-$(date -u +%Y%m%dT%H%M%SZ)}"
PORT="${PORT:-8543}"
ALGS="${ALGS:-ES256 PS256}"
mkdir -p "$OUT"

"$PEERS/setup.sh" >/dev/null
if [[ -z "${BIN:-}" ]]; then
  (cd "$ROOT" && cargo build --release -p bulwark-server 2>&1 | tail -1)
  BIN="$ROOT/target/release/bulwark"
fi

if [[ "${PEER:-1}" == 1 ]]; then
  OP_VERSIONS="${OP_VERSIONS:-9}" AT_ALGS="${PEER_ALGS:-ES256}" NEWCONN="${NEWCONN:-0}" "$PEERS/bench.sh"
fi

# The bench CA runs no OCSP responder and publishes no CRL: its certificates skip revocation,
# named by the SHA-256 of its public key (exclude_issuers refuses names).
CA_KEY="sha256:$(openssl x509 -in "$PEERS_PKI/ca.crt" -pubkey -noout | openssl pkey -pubin -outform DER \
  | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')"
WORK="$(mktemp -d /tmp/bulwark-bench.XXXXXX)"
trap 'kill "${SERVER_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
openssl pkey -in "$PEERS_PKI/client-jwt.key" -pubout -out "$WORK/client-jwt.pub.pem"
cat > "$WORK/client.json" <<JSON
{"client_id": "bench-client", "token_endpoint_auth_method": "private_key_jwt",
 "token_endpoint_auth_signing_alg": "ES256", "grant_types": ["client_credentials"],
 "scope": "api:read", "tls_client_certificate_bound_access_tokens": true}
JSON

for ALG in $ALGS; do
  DATA="$WORK/data-$ALG"; mkdir -p "$DATA"
  export BULWARK_ISSUER="https://127.0.0.1:$PORT" BULWARK_DATA_DIR="$DATA" \
    BULWARK_HTTP__LISTEN="127.0.0.1:$PORT" BULWARK_TLS__CERT="$PEERS_PKI/server.crt" \
    BULWARK_TLS__KEY="$PEERS_PKI/server.key" BULWARK_TRUST__ANCHORS="[\"$PEERS_PKI/ca.crt\"]" \
    BULWARK_REVOCATION__EXCLUDE_ISSUERS="[\"$CA_KEY\"]" \
    BULWARK_TOKENS__ACCESS_TOKEN_ALG="$ALG" BULWARK_LOG__LEVEL=warn
  if [[ "${DB:-sqlite}" == postgres ]]; then
    ADMIN="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
    psql "$ADMIN" -qc "DROP DATABASE IF EXISTS bulwark_bench" -c "CREATE DATABASE bulwark_bench" >/dev/null
    export BULWARK_DATABASE__URL="${ADMIN%/*}/bulwark_bench"
  fi
  "$BIN" clients add --metadata "$WORK/client.json" --public-key-pem "$WORK/client-jwt.pub.pem" --kid bench-client-es256 >/dev/null
  pin=(); [[ -n "${SERVER_CPUS:-}" ]] && pin=(taskset -c "$SERVER_CPUS")
  "${pin[@]}" "$BIN" serve > "$OUT/bulwark-$ALG.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do grep -q "listening" "$OUT/bulwark-$ALG.log" && break; sleep 0.1; done
  sleep 1
  rss_start=$(awk '/VmRSS/{print $2}' /proc/$SERVER_PID/status)
  LABEL="${NAME:-bulwark} $ALG (${DB:-sqlite})${SERVER_CPUS:+ pin$SERVER_CPUS}" SERVER_PID="$SERVER_PID" TOKEN_URL="https://127.0.0.1:$PORT/token" \
    INTROSPECT_URL="https://127.0.0.1:$PORT/introspect" INTROSPECT_TOKEN_PARAMS="scope=api:read" \
    NEWCONN="${NEWCONN:-0}" "$PEERS/run-target.sh"
  printf '{"label":"bulwark %s","pid":%s,"rss_kb_after_start":%s,"rss_kb_peak_VmHWM":%s,"rss_kb_idle_after_load":%s}\n' \
    "$ALG" "$SERVER_PID" "$rss_start" "$(awk '/VmHWM/{print $2}' /proc/$SERVER_PID/status)" \
    "$(awk '/VmRSS/{print $2}' /proc/$SERVER_PID/status)" >> "$OUT/servers.jsonl"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  unset BULWARK_DATABASE__URL
done
python3 "$PEERS/summarize.py" "$OUT" | tee "$OUT/summary.md"
echo "results in $OUT"
