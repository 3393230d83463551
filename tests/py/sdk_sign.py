"""Signs request cases with the official Alibaba Cloud Python SDK's own functions.

Reads a JSON array of cases on stdin, prints a JSON array of results on stdout. Used by
tests/tests/sdk_signature_crosscheck.rs to compare the Rust signing code with the SDK:
- `alibabacloud_tea_openapi.utils.Utils` (what alibabacloud-cloudauth-intl20220809's client
  calls: get_rpcsignature for V2, get_authorization for V3);
- `alibabacloud_openapi_util.client.Client`, the older stand-alone helpers (V2 only: its V3
  canonical query has a legacy quirk for empty values, reference §1.6 F).
"""
import json
import sys
from types import SimpleNamespace

from alibabacloud_openapi_util.client import Client as LegacyUtil
from alibabacloud_tea_openapi.utils import Utils


def sign(case):
    if case["scheme"] == "v2":
        params = dict(case["params"])
        return {
            "sdk": Utils.get_rpcsignature(params, case["method"], case["secret"]),
            "legacy": LegacyUtil.get_rpcsignature(params, case["method"], case["secret"]),
        }
    request = SimpleNamespace(
        method=case["method"],
        pathname="/",
        query=dict(case["query"]),
        headers=dict(case["headers"]),
    )
    auth = Utils.get_authorization(
        request, "ACS3-HMAC-SHA256", case["payload_sha256"], case["access_key_id"], case["secret"]
    )
    return {"sdk": auth}


def main():
    cases = json.load(sys.stdin)
    json.dump([sign(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
