#!/usr/bin/env python3
"""One-shot demo for the compose stack (Python 3 standard library only).

1. creates sample verifications in the cloudauth emulator (POST /admin/verifications),
2. enqueues one archive request per verification through the worker
   (POST /v1/archive-requests, 202 once the broker confirmed),
3. watches the worker's /metrics until every request is archived (or DEMO_WAIT_SECONDS pass).

Environment (all set by compose.yaml from .env):
  DEMO_EMULATOR_URL   base URL of the emulator            (default http://emulator:8787)
  DEMO_ARCHIVER_URL   base URL of the worker's HTTP port  (default http://kyc-archiver:9464)
  DEMO_WAIT_SECONDS   how long to wait for the archive     (default 240)

The verification specs use the emulator's admin API field names (see
crates/cloudauth-emulator/src/verification.rs, `VerificationSpec`); the archive request follows
docs/schemas/archive-request-v1.schema.json. No personal data is involved: the emulator makes
up names, numbers and images.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request

EMULATOR = os.environ.get("DEMO_EMULATOR_URL", "http://emulator:8787").rstrip("/")
ARCHIVER = os.environ.get("DEMO_ARCHIVER_URL", "http://kyc-archiver:9464").rstrip("/")
WAIT_SECONDS = float(os.environ.get("DEMO_WAIT_SECONDS", "240"))

# One of each kind of evidence bundle. `passed` also accepts "Y"/"N"; `sub_code` a number.
SCENARIOS: list[tuple[str, dict]] = [
    ("eKYC passed, 1 MiB video",
     {"product": "eKYC", "doc_type": "00000008", "passed": True, "sub_code": "200", "video_size": 1 << 20}),
    ("eKYC failed (205), 2 MiB video",
     {"product": "eKYC", "doc_type": "00000008", "passed": False, "sub_code": "205", "video_size": 2 << 20}),
    ("eKYC passed, 40 MiB video (multipart upload)",
     {"product": "eKYC", "doc_type": "00000008", "passed": True, "sub_code": "200", "video_size": 40 << 20}),
    ("ID_OCR passed, no video",
     {"product": "ID_OCR", "doc_type": "00000008", "passed": True, "sub_code": "200"}),
    ("FACE_LIVENESS passed, 4 MiB video",
     {"product": "FACE_LIVENESS", "passed": True, "sub_code": "200", "video_size": 4 << 20}),
    ("eKYC still processing for 90 s (ProcessNotCompleted, then a delayed retry)",
     {"product": "eKYC", "doc_type": "00000008", "passed": True, "sub_code": "200", "video_size": 1 << 20,
      "not_completed_for": "90s"}),
]

DONE_OUTCOMES = ("archived", "already_archived")
FAILED_OUTCOMES = ("dead_lettered", "parked")


def request(method: str, url: str, body: dict | None = None, timeout: float = 60) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_until_ready(url: str, what: str, deadline: float) -> None:
    while True:
        try:
            status, _ = request("GET", url, timeout=5)
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"demo: {what} not ready at {url}")
        time.sleep(2)


def outcomes(metrics_text: str) -> dict[str, float]:
    """Sums kyc_archiver_requests_total by its `outcome` label."""
    totals: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if not line.startswith("kyc_archiver_requests_total{"):
            continue
        labels, _, value = line.rpartition(" ")
        for part in labels[labels.index("{") + 1: labels.rindex("}")].split(","):
            key, _, val = part.partition("=")
            if key.strip() == "outcome":
                name = val.strip().strip('"')
                totals[name] = totals.get(name, 0.0) + float(value)
    return totals


def main() -> int:
    start = time.monotonic()
    wait_until_ready(f"{EMULATOR}/admin/health", "emulator", start + 120)
    wait_until_ready(f"{ARCHIVER}/readyz", "kyc-archiver", start + 120)
    status, body = request("GET", f"{ARCHIVER}/metrics")
    before = outcomes(body.decode()) if status == 200 else {}

    enqueued = 0
    for title, spec in SCENARIOS:
        status, body = request("POST", f"{EMULATOR}/admin/verifications", spec, timeout=120)
        if status != 201:
            print(f"demo: emulator refused {title!r}: {status} {body.decode(errors='replace')}", file=sys.stderr)
            return 1
        v = json.loads(body)
        archive_request = {
            "version": 1,
            "transaction_id": v["transaction_id"],
            "merchant_biz_id": v["merchant_biz_id"],
            "product": v["product"],
            "labels": {"source": "compose-demo"},
        }
        # A requesting service learns the completion time when the verification finishes; the
        # still-processing scenario models a request sent too early, without it.
        if "not_completed_for" not in spec:
            archive_request["completed_at"] = v["completed_at"]
        if v.get("doc_type"):
            archive_request["document_type"] = v["doc_type"]
        status, body = request("POST", f"{ARCHIVER}/v1/archive-requests", archive_request)
        if status // 100 != 2:
            print(f"demo: enqueue refused for {v['transaction_id']}: {status} {body.decode(errors='replace')}",
                  file=sys.stderr)
            return 1
        enqueued += 1
        print(f"enqueued {v['transaction_id']}  {title}", flush=True)

    print(f"waiting up to {WAIT_SECONDS:.0f}s for {enqueued} bundles ...", flush=True)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        status, body = request("GET", f"{ARCHIVER}/metrics")
        now = outcomes(body.decode()) if status == 200 else {}
        delta = {k: now.get(k, 0.0) - before.get(k, 0.0) for k in set(now) | set(before)}
        done = sum(delta.get(k, 0.0) for k in DONE_OUTCOMES)
        failed = sum(delta.get(k, 0.0) for k in FAILED_OUTCOMES)
        if done + failed >= enqueued:
            break
        if time.monotonic() > deadline:
            print(f"demo: timed out; outcomes so far: {delta}", file=sys.stderr)
            return 1
        time.sleep(3)
    print("outcomes:", {k: int(v) for k, v in sorted(delta.items()) if v})
    if failed:
        print("demo: some requests were dead-lettered or parked; see docs/operations.md", file=sys.stderr)
        return 1
    print("all bundles archived; browse them with the object store's console (see deploy/compose/README.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
