#!/usr/bin/env bash
# What shadow mode costs a forwarded request, under load: wrk (64
# connections) against one gateway on a private Redis key prefix, on an
# enforce route (token checked in Redis before the forward), a shadow route
# (forwarded at once, checked beside it) and a public route (no check),
# all to the same upstream, interleaved for several rounds.
#   bash bench/shadow.sh [rounds] [seconds]
set -euo pipefail
rounds=${1:-3}; secs=${2:-8}
cd "$(dirname "$0")/.."
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/gateway" ./cmd/gateway
go build -o "$work/upstream" ./bench/upstream
cp deploy/demo/users.yaml "$work/"
head -c 40 /dev/urandom | base64 | tr -d '\n' > "$work/mmm.secret"
cat > "$work/config.yaml" <<YAML
server: { listen: "127.0.0.1:18080", admin_listen: "127.0.0.1:19090", drain_delay: 0s }
store: { driver: redis, redis: { addrs: ["${REDIS_ADDR:-127.0.0.1:6379}"], key_prefix: "authgate-bench-$$:" } }
identity: { users_file: users.yaml }
log: { level: warn }
dialects:
  mmm: { type: mmm, secret_file: mmm.secret }
  old: { type: mmm, secret_file: mmm.secret }
routes:
  - { path_prefix: /v1/, dialects: [mmm], upstream: "http://127.0.0.1:18090" }
  - { path_prefix: /old/, dialects: [old], mode: shadow, upstream: "http://127.0.0.1:18090" }
  - { path_prefix: /pub/, public: true, upstream: "http://127.0.0.1:18090" }
YAML
"$work/upstream" & "$work/gateway" -config "$work/config.yaml" 2>"$work/gateway.log" &
for _ in $(seq 50); do curl -sf http://127.0.0.1:19090/readyz >/dev/null && break; sleep 0.1; done
token=$(curl -s -X POST http://127.0.0.1:18080/auth/login -d '{"account":"demo","password":"demo123"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
for r in $(seq "$rounds"); do
  for path in /v1/x /old/x /pub/x; do
    out=$(wrk -t2 -c64 -d"${secs}s" --latency -H "x-mmm-accesstoken: $token" "http://127.0.0.1:18080$path")
    printf 'round %s %-7s %10s req/s  p50 %8s  p99 %8s\n' "$r" "$path" \
      "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1=="50%" {print $2}' <<<"$out")" "$(awk '$1=="99%" {print $2}' <<<"$out")"
  done
done
curl -s http://127.0.0.1:19090/metrics | grep -E "^authgate_shadow_(verdicts_total|checks_skipped_total)|^authgate_store_errors_total" || true
