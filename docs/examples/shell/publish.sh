#!/usr/bin/env bash
# Publish one kyc-archiver archive request with amqp-publish (Debian/Ubuntu package amqp-tools).
#
#   publish.sh --amqp-url amqp://user:pass@rabbitmq:5672/%2f --queue kyc-archiver.work \
#       --transaction-id hksb7ba1b28130d24e015d694361bee4 --merchant-biz-id e0c34a77f5ac40a5aa5e6ed20c350001 \
#       [--completed-at 2026-11-21T10:00:00Z] [--product eKYC]
#
# CAUTION: fire and forget. amqp-publish does not wait for publisher confirms and does not
# publish `mandatory`, and amqp-tools cannot declare a queue passively, so exit status 0
# only means the message was written to the socket: if the queue does not exist (the worker
# never ran, or a typo in --queue) the broker silently drops it, and a broker failure right
# after the publish can lose it. For a confirmed publish from a shell, use publish-http.sh
# (the worker's HTTP endpoint answers 202 only after the broker confirmed the message).
#
# Message format: docs/schemas/archive-request-v1.schema.json. Values are checked against
# its patterns below, which also makes it safe to build the JSON with printf.
set -euo pipefail

usage() {
    sed -n '4,6p' "$0" | sed 's/^#//' >&2
    exit 2
}
fail() {
    echo "publish.sh: $*" >&2
    exit 2
}

amqp_url="" queue="kyc-archiver.work" transaction_id="" merchant_biz_id="" completed_at="" product=""
while (($# > 0)); do
    (($# >= 2)) || usage
    case "$1" in
    --amqp-url) amqp_url="$2" ;;
    --queue) queue="$2" ;;
    --transaction-id) transaction_id="$2" ;;
    --merchant-biz-id) merchant_biz_id="$2" ;;
    --completed-at) completed_at="$2" ;;
    --product) product="$2" ;;
    *) usage ;;
    esac
    shift 2
done
[[ -n "$amqp_url" ]] || fail "--amqp-url is required"
[[ "$transaction_id" =~ ^[A-Za-z0-9_-]{1,64}$ ]] || fail "--transaction-id must be 1 to 64 of A-Z a-z 0-9 _ -"
[[ "$merchant_biz_id" =~ ^[A-Za-z0-9]{1,32}$ ]] || fail "--merchant-biz-id must be 1 to 32 letters and digits"
[[ -z "$completed_at" || "$completed_at" =~ ^[0-9T:.+Z-]{20,35}$ ]] || fail "--completed-at must be RFC 3339, e.g. 2026-11-21T10:00:00Z"
[[ -z "$product" || "$product" =~ ^[A-Za-z0-9_]{1,32}$ ]] || fail "--product must be 1 to 32 of A-Z a-z 0-9 _"

body="$(printf '{"version":1,"transaction_id":"%s","merchant_biz_id":"%s"' "$transaction_id" "$merchant_biz_id")"
[[ -z "$completed_at" ]] || body+="$(printf ',"completed_at":"%s"' "$completed_at")"
[[ -z "$product" ]] || body+="$(printf ',"product":"%s"' "$product")"
body+="}"

# Default exchange (no --exchange): the routing key is the queue name. --persistent sets
# delivery_mode 2. Exits non-zero only if the broker cannot be reached or refuses the login.
amqp-publish --url="$amqp_url" --routing-key="$queue" --persistent \
    --content-type=application/json --body="$body" ||
    { echo "publish.sh: amqp-publish failed (see above)" >&2; exit 1; }
echo "sent $transaction_id to $queue (unconfirmed: amqp-publish does not wait for the broker)"
