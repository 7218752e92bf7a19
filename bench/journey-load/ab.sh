#!/usr/bin/env bash
# Quick A/B of Bulwark builds on the FAPI 2.0 journey (SQLite), one sitting: for each repetition
# and each binary, a fresh pinned server (cpu SERVER_CPU) and the journey-load generator (cpu
# CLIENT_CPU), set up as diag.sh sets them up. Prints one line per run: label, journeys/s,
# server CPU ms per journey, errors. No peer, no PostgreSQL: run.sh is the full comparison.
#
#   bench/journey-load/ab.sh before=/tmp/a/bulwark after=/tmp/b/bulwark
#
# Env: C (8), REPS (2), WARMUP (3), DURATION (12), ALG (ES256: the access token alg),
# CARGO_TARGET_DIR (/tmp/journey-load-target: run.sh builds the generator), PEERS_PKI
# (/tmp/peers-pki), SERVER_CPU (1), CLIENT_CPU (0). Uses /tmp/journey-load-ab/.
set -euo pipefail
(($#)) || { echo "usage: $0 LABEL=BINARY..." >&2; exit 2; }
GEN="${CARGO_TARGET_DIR:-/tmp/journey-load-target}/release/journey-load"
PKI="${PEERS_PKI:-/tmp/peers-pki}"
C="${C:-8}"; REPS="${REPS:-2}"; WARMUP="${WARMUP:-3}"; DURATION="${DURATION:-12}"; ALG="${ALG:-ES256}"
SERVER_CPU="${SERVER_CPU:-1}"; CLIENT_CPU="${CLIENT_CPU:-0}"
W=/tmp/journey-load-ab
[[ -x "$GEN" ]] || { echo "build the generator first (bench/journey-load/run.sh does)" >&2; exit 2; }

one() { # LABEL BINARY
  local label="$1" bin="$2" port spid
  rm -rf "$W"; mkdir -p "$W"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  cat > "$W/bulwark.toml" <<TOML
issuer = "https://localhost:$port"
data_dir = "$W/data"
[http]
listen = "127.0.0.1:$port"
[tokens]
access_token_alg = "$ALG"
[authorization]
session_lifetime_secs = 3600
TOML
  openssl pkey -in "$PKI/client-jwt.key" -pubout -out "$W/pub.pem" 2>/dev/null
  cat > "$W/client.json" <<'JSON'
{"client_id": "bench-client", "client_name": "Journey load TPP",
 "token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256",
 "grant_types": ["client_credentials", "authorization_code", "refresh_token"], "response_types": ["code"],
 "redirect_uris": ["https://127.0.0.1/cb"], "scope": "openid accounts", "id_token_signed_response_alg": "PS256",
 "tls_client_certificate_bound_access_tokens": true, "resource_server": true}
JSON
  "$bin" --config "$W/bulwark.toml" clients add --metadata "$W/client.json" --public-key-pem "$W/pub.pem" \
    --kid bench-client-es256 >/dev/null
  BULWARK_LOG__LEVEL=warn taskset -c "$SERVER_CPU" "$bin" --config "$W/bulwark.toml" serve > "$W/server.log" 2>&1 &
  spid=$!
  for _ in $(seq 150); do
    curl -sf -o /dev/null --cacert "$W/data/dev-pki/ca.pem" "https://localhost:$port/.well-known/openid-configuration" && break
    sleep 0.2
  done
  taskset -c "$CLIENT_CPU" "$GEN" --target bulwark --issuer "https://localhost:$port" --ca "$W/data/dev-pki/ca.pem" \
    --cert "$W/data/dev-pki/client.pem" --key "$W/data/dev-pki/client-key.pem" --client-key "$PKI/client-jwt.key" \
    --kid bench-client-es256 --username demo --password "$(sed -n 's/^password: //p' "$W/data/demo-psu.txt")" \
    --concurrency "$C" --warmup "$WARMUP" --duration "$DURATION" --pool 20000 --server-pid "$spid" \
    --label "$label" > "$W/run.json" 2> "$W/gen.err" || true
  kill "$spid"; wait "$spid" 2>/dev/null || true
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sys.argv[2], 'c=$C', r['journeys_per_s'], 'j/s', r['server_cpu_ms_per_journey'], 'ms', r['errors'], 'errors')" \
    "$W/run.json" "$label"
}

for rep in $(seq "$REPS"); do
  for arg in "$@"; do one "${arg%%=*}" "${arg#*=}"; done
done
