#!/usr/bin/env bash
# The gateway benchmark (GW-1 "Performance"): a GET with a JWT check (an application token on
# the demo bank's products route) at c=64 over keep-alive, three ways in one sitting:
#   direct   load generator -> demo bank (plain HTTP)
#   gateway  load generator -> bulwark gateway (TLS + client certificate, token, QWAC, policy)
#            -> demo bank
#   nginx    load generator -> Debian's nginx (TLS + client certificate, no checks) -> demo bank
# The proxy (gateway or nginx) is pinned to CPU 1; the load generator and the demo bank share
# CPU 0. Prints a table (requests/s, p50, p99, proxy CPU per request) and, with PERF=1, the
# gateway's CPU profile by component.
# RATES="5000 10000" (the default) then repeats the three at those fixed offered rates, still over
# C connections: below saturation the added p50 is the proxy's own cost per request, where at
# saturation every server's p50 is its queue (C ÷ throughput). RATES="" skips them.
#
#   cargo build --release -p bulwark-server
#   bench/gateway-load/run.sh          # ~3 minutes; results in /tmp/gateway-bench/
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/target/release/bulwark}
LOAD_TARGET=${LOAD_TARGET:-/tmp/gateway-load-target}
OUT=${OUT:-/tmp/gateway-bench}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
C=${C:-64}
RATES=${RATES-5000 10000}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$OUT"

(cd "$ROOT/bench/gateway-load" && CARGO_TARGET_DIR=$LOAD_TARGET cargo build --release -q)
LOAD=$LOAD_TARGET/release/gateway-load
command -v nginx >/dev/null || { apt-get install -y -qq nginx-light >/dev/null 2>&1 || apt-get install -y -qq nginx >/dev/null; }

cd "$WORK"
export BULWARK_LOG__LEVEL=warn
"$BIN" serve >server.log 2>&1 & PIDS+=($!)
for _ in $(seq 1 100); do curl -sk https://localhost:8443/healthz -o /dev/null && break; sleep 0.2; done
cat > tpp.json <<'JSON'
{"client_id": "dev-tpp", "token_endpoint_auth_method": "tls_client_auth",
 "tls_client_auth_subject_dn": "organizationIdentifier=PSDGB-DEV-000001,CN=dev-tpp,O=Bulwark Development",
 "grant_types": ["client_credentials"], "scope": "accounts"}
JSON
"$BIN" clients add --metadata tpp.json >/dev/null
CERTS=(--cacert data/dev-pki/ca.pem --cert data/dev-pki/client.pem --key data/dev-pki/client-key.pem)
TOKEN=$(curl -s "${CERTS[@]}" -d grant_type=client_credentials -d client_id=dev-tpp -d scope=accounts \
  https://localhost:8443/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')

taskset -c 0 "$BIN" demo-bank --listen 127.0.0.1:9080 >bank.log 2>&1 & PIDS+=($!)
cat > gateway.toml <<TOML
listen = "127.0.0.1:8444"
issuer = "https://localhost:8443"
jwks_uri = "https://localhost:8443/jwks"
jwks_ca = ["data/dev-pki/ca.pem"]
database_url = "sqlite://data/bulwark.db?mode=rwc"
[tls]
cert = "data/dev-pki/server.pem"
key = "data/dev-pki/server-key.pem"
[trust]
anchors = ["data/dev-pki/ca.pem"]
[revocation]
enabled = false
[[routes]]
method = "GET"
path = "/open-banking/v3.1/aisp/products"
upstream = "http://127.0.0.1:9080"
api = "products"
token = "application"
TOML
# The gateway logs at warn, as the server does here and as nginx (access_log off) does;
# GW_LOG_LEVEL="" leaves [log] out (a build before the gateway had one).
if [ -n "${GW_LOG_LEVEL-warn}" ]; then
  printf '[log]\nlevel = "%s"\n' "${GW_LOG_LEVEL-warn}" >> gateway.toml
fi
taskset -c 1 "$BIN" gateway --config gateway.toml >gateway.log 2>&1 & GW=$!; PIDS+=($GW)
mkdir -p nginx
cat > nginx/nginx.conf <<NGINX
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  # nginx closes a keep-alive connection after 1,000 requests by default (client and upstream
  # side): the generator would count each close as an error, and the gateway never closes.
  keepalive_requests 1000000;
  upstream bank { server 127.0.0.1:9080; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:8445 ssl;
    ssl_certificate $WORK/data/dev-pki/server.pem;
    ssl_certificate_key $WORK/data/dev-pki/server-key.pem;
    ssl_client_certificate $WORK/data/dev-pki/ca.pem;
    ssl_verify_client on;
    location / {
      proxy_pass http://bank;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-SSL-Client-Cert \$ssl_client_escaped_cert;
    }
  }
}
NGINX
taskset -c 1 nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" >nginx/out.log 2>&1 & NG=$!; PIDS+=($NG)
sleep 1
P=/open-banking/v3.1/aisp/products
curl -s "${CERTS[@]}" -H "Authorization: Bearer $TOKEN" "https://localhost:8444$P" | grep -q ProductName \
  || { echo "the gateway does not answer:"; cat gateway.log; exit 1; }

run() { taskset -c 0 "$LOAD" --concurrency "$C" --duration "$DURATION" --warmup "$WARMUP" "$@" | tee -a "$OUT/results.jsonl"; }
: >"$OUT/results.jsonl"
run --label direct --url "http://127.0.0.1:9080$P"
if [ "${PERF:-0}" = 1 ]; then
  perf record -e cpu-clock -g -p "$GW" -o "$OUT/gateway.perf" -- sleep $((WARMUP + DURATION)) >/dev/null 2>&1 &
  PERFPID=$!
fi
run --label gateway --url "https://localhost:8444$P" --ca data/dev-pki/ca.pem \
    --cert data/dev-pki/client.pem --key data/dev-pki/client-key.pem --token "$TOKEN" --server-pid "$GW"
[ "${PERF:-0}" = 1 ] && wait "$PERFPID" || true
NGW=$(pgrep -P "$NG" | head -1)
run --label nginx --url "https://localhost:8445$P" --ca data/dev-pki/ca.pem \
    --cert data/dev-pki/client.pem --key data/dev-pki/client-key.pem --server-pid "$NGW"
for R in $RATES; do
  run --label direct --rate "$R" --url "http://127.0.0.1:9080$P"
  run --label gateway --rate "$R" --url "https://localhost:8444$P" --ca data/dev-pki/ca.pem \
      --cert data/dev-pki/client.pem --key data/dev-pki/client-key.pem --token "$TOKEN" --server-pid "$GW"
  run --label nginx --rate "$R" --url "https://localhost:8445$P" --ca data/dev-pki/ca.pem \
      --cert data/dev-pki/client.pem --key data/dev-pki/client-key.pem --server-pid "$NGW"
done

python3 - "$OUT/results.jsonl" <<'PY' | tee "$OUT/summary.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| path | offered req/s | requests/s | p50 µs | p99 µs | added p50 µs | proxy CPU µs/request | errors |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    direct = next(d for d in rows if d["label"] == "direct" and d.get("rate") == r.get("rate"))
    cpu = r.get("server_cpu_us_per_req")
    offered = "max" if r.get("rate") is None else f"{r['rate']:.0f}"
    print(f"| {r['label']} | {offered} | {r['rps']:.0f} | {r['p50_us']} | {r['p99_us']} | "
          f"{r['p50_us'] - direct['p50_us'] if r['label'] != 'direct' else '-'} | "
          f"{'-' if cpu is None else f'{cpu:.1f}'} | {r['errors']} |")
PY
if [ "${PERF:-0}" = 1 ]; then
  perf report -i "$OUT/gateway.perf" --no-children --sort dso,symbol --stdio 2>/dev/null | head -60 >"$OUT/gateway-profile.txt" || true
  echo "profile: $OUT/gateway-profile.txt"
fi
