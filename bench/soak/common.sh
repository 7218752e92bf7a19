# Shared by run.sh and rotate.sh: the test PKI of ../shared/peers, a release build, the load
# generator, a fresh PostgreSQL database, and one Bulwark pinned to $SERVER_CPUS with a
# registered private_key_jwt client. Sourced, not run.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS="${PEERS:-$ROOT/../shared/peers}"
export PEERS_PKI="${PEERS_PKI:-/tmp/peers-pki}"
PKI="$PEERS_PKI"
PORT="${PORT:-8643}"
SERVER_CPUS="${SERVER_CPUS:-1}"
CLIENT_CPUS="${CLIENT_CPUS:-0}"
ADMIN="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
mkdir -p "$OUT"

"$PEERS/gen-certs.sh" >/dev/null
if [[ -z "${BIN:-}" ]]; then
  (cd "$ROOT" && cargo build --release -p bulwark-server 2>&1 | tail -1)
  BIN="$ROOT/target/release/bulwark"
fi
(cd "$ROOT/bench/soak" && CARGO_TARGET_DIR=/tmp/soak-target cargo build --release 2>&1 | tail -1)
LOAD=/tmp/soak-target/release/soak-load
LOAD_ARGS=(--base "https://127.0.0.1:$PORT" --client-id soak-client --key "$PKI/client-jwt.key"
           --cert "$PKI/client.crt" --cert-key "$PKI/client.key" --ca "$PKI/ca.crt")

# The bench CA runs no OCSP responder and publishes no CRL: its certificates skip revocation.
CA_KEY="sha256:$(openssl x509 -in "$PKI/ca.crt" -pubkey -noout | openssl pkey -pubin -outform DER \
  | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')"
WORK="$(mktemp -d /tmp/bulwark-soak.XXXXXX)"
trap 'kill "${SERVER_PID:-}" "${ROWS_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS bulwark_soak" -c "CREATE DATABASE bulwark_soak" >/dev/null
DB="${ADMIN%/*}/bulwark_soak"
export BULWARK_ISSUER="https://127.0.0.1:$PORT" BULWARK_DATA_DIR="$WORK" \
  BULWARK_HTTP__LISTEN="127.0.0.1:$PORT" BULWARK_TLS__CERT="$PKI/server.crt" \
  BULWARK_TLS__KEY="$PKI/server.key" BULWARK_TRUST__ANCHORS="[\"$PKI/ca.crt\"]" \
  BULWARK_REVOCATION__EXCLUDE_ISSUERS="[\"$CA_KEY\"]" BULWARK_DATABASE__URL="$DB" \
  BULWARK_LOG__LEVEL=warn
cat > "$WORK/client.json" <<JSON
{"client_id": "soak-client", "token_endpoint_auth_method": "private_key_jwt",
 "token_endpoint_auth_signing_alg": "ES256", "grant_types": ["client_credentials"],
 "scope": "api:read", "tls_client_certificate_bound_access_tokens": true,
 "jwks": {"keys": [$("$LOAD" --print-jwk --key "$PKI/client-jwt.key")]}}
JSON
"$BIN" clients add --metadata "$WORK/client.json" >/dev/null

start_server() {
  taskset -c "$SERVER_CPUS" "$BIN" serve >"$OUT/server.out" 2>"$OUT/server.err" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    grep -q "bulwark listening" "$OUT/server.out" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server did not start"; cat "$OUT/server.err"; exit 1
}
