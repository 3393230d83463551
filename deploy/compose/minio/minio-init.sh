#!/bin/sh
# minio-init.sh — run once by the minio-init service (image minio/mc), idempotent:
#   1. creates $BUCKET with object lock (MinIO enables versioning with it),
#   2. fails if an existing $BUCKET has no object lock (lock cannot be added to a bucket later),
#   3. creates or updates the worker's user and attaches only the policy below: the same actions
#      as the AWS IAM policy in docs/operations.md ("Running against AWS S3").
# Environment: MC_HOST_local (admin URL), BUCKET, WORKER_ACCESS_KEY_ID, WORKER_SECRET_ACCESS_KEY.
# The mc image is minimal (no sed, awk or grep): only mc, the shell and cat are used.
set -eu

: "${BUCKET:?}" "${WORKER_ACCESS_KEY_ID:?}" "${WORKER_SECRET_ACCESS_KEY:?}"

mc mb --ignore-existing --with-lock "local/${BUCKET}"
if ! mc retention info --default "local/${BUCKET}" >/dev/null 2>&1; then
    echo "minio-init: bucket ${BUCKET} exists without object lock; delete it (or the minio-data volume) and retry" >&2
    exit 1
fi

policy=/tmp/kyc-archiver-policy.json
cat > "$policy" <<POLICY
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ListAndCheckTheBucket",
      "Effect": "Allow",
      "Action": ["s3:ListBucket"],
      "Resource": ["arn:aws:s3:::${BUCKET}"]
    },
    {
      "Sid": "WriteAndReadEvidence",
      "Effect": "Allow",
      "Action": [
        "s3:PutObject",
        "s3:GetObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:PutObjectRetention",
        "s3:PutObjectLegalHold",
        "s3:PutObjectTagging",
        "s3:GetObjectTagging"
      ],
      "Resource": ["arn:aws:s3:::${BUCKET}/*"]
    }
  ]
}
POLICY

mc admin user add local "${WORKER_ACCESS_KEY_ID}" "${WORKER_SECRET_ACCESS_KEY}"
mc admin policy create local kyc-archiver "$policy"
# `attach` fails when the policy is attached already, which is the state we want.
mc admin policy attach local kyc-archiver --user "${WORKER_ACCESS_KEY_ID}" ||
    echo "minio-init: policy kyc-archiver was already attached to ${WORKER_ACCESS_KEY_ID}"
echo "minio-init: bucket ${BUCKET} (object lock) and user ${WORKER_ACCESS_KEY_ID} ready"
