#!/usr/bin/env bash
# Submit one kyc-archiver archive request through the worker's HTTP endpoint, with curl.
#
#   publish-http.sh --endpoint http://worker:9464 \
#       --transaction-id hksb7ba1b28130d24e015d694361bee4 --merchant-biz-id e0c34a77f5ac40a5aa5e6ed20c350001 \
#       [--completed-at 2026-11-21T10:00:00Z] [--product eKYC]
#
# The confirmed way in for shell users: POST /v1/archive-requests validates the message
# (400 with the reason if it is invalid) and answers 202 only after RabbitMQ confirmed it
# into the worker's own <prefix>.work queue (503 if the broker did not take it). curl exits
# non-zero on anything but 2xx and prints the error body. The one-line equivalent:
#
#   curl -fsS -X POST http://worker:9464/v1/archive-requests \
#       -H 'Content-Type: application/json' -d @msg.json
#
# Message format: docs/schemas/archive-request-v1.schema.json. Values are checked against
# its patterns below, which also makes it safe to build the JSON with printf.
set -euo pipefail

usage() {
    sed -n '4,6p' "$0" | sed 's/^#//' >&2
    exit 2
}
fail() {
    echo "publish-http.sh: $*" >&2
    exit 2
}

endpoint="" transaction_id="" merchant_biz_id="" completed_at="" product=""
while (($# > 0)); do
    (($# >= 2)) || usage
    case "$1" in
    --endpoint) endpoint="${2%/}" ;;
    --transaction-id) transaction_id="$2" ;;
    --merchant-biz-id) merchant_biz_id="$2" ;;
    --completed-at) completed_at="$2" ;;
    --product) product="$2" ;;
    *) usage ;;
    esac
    shift 2
done
[[ -n "$endpoint" ]] || fail "--endpoint is required (the worker's HTTP address, e.g. http://worker:9464)"
[[ "$transaction_id" =~ ^[A-Za-z0-9_-]{1,64}$ ]] || fail "--transaction-id must be 1 to 64 of A-Z a-z 0-9 _ -"
[[ "$merchant_biz_id" =~ ^[A-Za-z0-9]{1,32}$ ]] || fail "--merchant-biz-id must be 1 to 32 letters and digits"
[[ -z "$completed_at" || "$completed_at" =~ ^[0-9T:.+Z-]{20,35}$ ]] || fail "--completed-at must be RFC 3339, e.g. 2026-11-21T10:00:00Z"
[[ -z "$product" || "$product" =~ ^[A-Za-z0-9_]{1,32}$ ]] || fail "--product must be 1 to 32 of A-Z a-z 0-9 _"

body="$(printf '{"version":1,"transaction_id":"%s","merchant_biz_id":"%s"' "$transaction_id" "$merchant_biz_id")"
[[ -z "$completed_at" ]] || body+="$(printf ',"completed_at":"%s"' "$completed_at")"
[[ -z "$product" ]] || body+="$(printf ',"product":"%s"' "$product")"
body+="}"

# --fail-with-body (curl >= 7.76): exit 22 on 4xx/5xx like -f, but still print the JSON
# error ({"error": "..."}) so the reason is visible.
curl --fail-with-body -sS -X POST "$endpoint/v1/archive-requests" \
    -H 'Content-Type: application/json' --data-binary "$body" ||
    { echo; echo "publish-http.sh: the worker did not accept the request (see above)" >&2; exit 1; }
echo
