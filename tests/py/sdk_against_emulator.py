"""Calls the cloudauth emulator with the official Alibaba Cloud SDK.

Usage: python sdk_against_emulator.py '<json plan>'

The plan (written by tests/tests/emulator_official_sdk.rs):
    {"endpoint": "127.0.0.1:PORT",
     "credentials": {"<name>": {"id": .., "secret": .., "token": null | ".."}, ..},
     "cases": [{"name": .., "merchant_biz_id": .., "transaction_id": .., "is_return_image": "Y"|"N"}, ..],
     "calls": [{"case": .., "credentials": .., "signature_algorithm": "v3"|"v2"}, ..]}

For every call the script prints one JSON object per line on stdout:
    {"case", "credentials", "signature_algorithm", "ok": true,
     "status_code", "code", "message", "request_id",
     "passed", "sub_code",
     "ext_face_info": {..} | null, "ext_id_info": {..} | null}    (parsed by the SDK's models)
or, when the SDK raised:
    {.., "ok": false, "exception": "<class>", "code", "status_code", "message", "request_id"}

Nothing is skipped: an import error or an unexpected exception type fails the script.
"""

import json
import sys

from alibabacloud_cloudauth_intl20220809 import models as cloudauth_models
from alibabacloud_cloudauth_intl20220809.client import Client

try:  # newer tea-openapi (darabonba) layout
    from alibabacloud_tea_openapi import utils_models as open_api_models
except ImportError:  # older layout
    from alibabacloud_tea_openapi import models as open_api_models

from alibabacloud_tea_openapi import exceptions as open_api_exceptions


def make_client(endpoint, cred, signature_algorithm):
    kwargs = dict(
        access_key_id=cred["id"],
        access_key_secret=cred["secret"],
        endpoint=endpoint,
        protocol="http",
        read_timeout=30000,
        connect_timeout=5000,
    )
    if cred.get("token"):
        kwargs["security_token"] = cred["token"]
    config = open_api_models.Config(**kwargs)
    if signature_algorithm == "v2":
        config.signature_algorithm = "v2"
    return Client(config)


def parse_ext(text):
    if text is None:
        return None
    return json.loads(text)


def run_call(plan, case, call):
    cred = plan["credentials"][call["credentials"]]
    client = make_client(plan["endpoint"], cred, call["signature_algorithm"])
    request = cloudauth_models.CheckResultRequest(
        merchant_biz_id=case["merchant_biz_id"],
        transaction_id=case["transaction_id"],
        is_return_image=case["is_return_image"],
    )
    out = {
        "case": case["name"],
        "credentials": call["credentials"],
        "signature_algorithm": call["signature_algorithm"],
    }
    try:
        response = client.check_result(request)
    except open_api_exceptions.AlibabaCloudException as e:
        out.update(
            ok=False,
            exception=type(e).__name__,
            code=getattr(e, "code", None),
            status_code=getattr(e, "status_code", None),
            message=str(getattr(e, "message", "")),
            request_id=getattr(e, "request_id", None),
        )
        return out
    body = response.body
    result = body.result
    out.update(
        ok=True,
        status_code=response.status_code,
        code=body.code,
        message=body.message,
        request_id=body.request_id,
        passed=result.passed if result else None,
        sub_code=result.sub_code if result else None,
        ext_face_info=parse_ext(result.ext_face_info) if result else None,
        ext_id_info=parse_ext(result.ext_id_info) if result else None,
    )
    # The SDK's own model must round-trip the body.
    again = cloudauth_models.CheckResultResponseBody().from_map(body.to_map())
    assert again.result.sub_code == out["sub_code"], "model round trip lost SubCode"
    return out


def main():
    plan = json.loads(sys.argv[1])
    cases = {c["name"]: c for c in plan["cases"]}
    for call in plan["calls"]:
        out = run_call(plan, cases[call["case"]], call)
        print(json.dumps(out, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
