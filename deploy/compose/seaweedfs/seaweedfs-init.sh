#!/bin/sh
# seaweedfs-init.sh — run once by the seaweedfs-init service (image minio/mc), idempotent:
# creates $BUCKET with object lock (and so versioning) on SeaweedFS and fails if an existing
# bucket has no object lock. SeaweedFS has a single identity here (the worker's key), so there
# is no per-user policy to install.
# Environment: MC_HOST_seaweed (URL with the key), BUCKET.
set -eu

: "${BUCKET:?}"

mc mb --ignore-existing --with-lock "seaweed/${BUCKET}"
if ! mc retention info --default "seaweed/${BUCKET}" >/dev/null 2>&1; then
    echo "seaweedfs-init: bucket ${BUCKET} exists without object lock; delete it (or the seaweedfs-data volume) and retry" >&2
    exit 1
fi
echo "seaweedfs-init: bucket ${BUCKET} (object lock) ready"
