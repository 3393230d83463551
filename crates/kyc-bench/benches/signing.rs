//! Requests signed per second with the project's own pure signing functions
//! (`cloudauth::sign`): a CheckResult request under V3 (`ACS3-HMAC-SHA256`, the default) and
//! V2 (`HMAC-SHA1`), from the parameters to the finished `Authorization` / `Signature`.

use cloudauth::sign::{self, v2, v3};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

const KEY_ID: &str = "LTAI5tBenchmarkKeyId000";
const SECRET: &str = "benchmark-secret-not-a-real-one";
const TRANSACTION: &str = "hksb7ba1b28130d24e015d694361bee4";
const MERCHANT: &str = "e0c34a77f5ac40a5aa5e6ed20c350001";

fn sign_v3() -> String {
    let query = [
        ("IsReturnImage", "Y"),
        ("MerchantBizId", MERCHANT),
        ("TransactionId", TRANSACTION),
    ];
    let payload = sign::EMPTY_PAYLOAD_SHA256;
    let headers = [
        ("host", "cloudauth-intl.cn-hongkong.aliyuncs.com"),
        ("x-acs-action", "CheckResult"),
        ("x-acs-content-sha256", payload),
        ("x-acs-date", "2026-11-21T10:00:00Z"),
        (
            "x-acs-signature-nonce",
            "3f1e4b0e-5b1d-4a53-9d0c-1f2e3d4c5b6a",
        ),
        ("x-acs-version", "2022-08-09"),
    ];
    let canonical = v3::canonical_request("POST", "/", &query, &headers, payload);
    let to_sign = v3::string_to_sign(&canonical.text);
    let signature = v3::sign(SECRET, &to_sign);
    v3::authorization(KEY_ID, &canonical.signed_headers, &signature)
}

fn sign_v2() -> String {
    let params = [
        ("AccessKeyId", KEY_ID),
        ("Action", "CheckResult"),
        ("Format", "JSON"),
        ("IsReturnImage", "Y"),
        ("MerchantBizId", MERCHANT),
        ("SignatureMethod", v2::SIGNATURE_METHOD),
        ("SignatureNonce", "3f1e4b0e-5b1d-4a53-9d0c-1f2e3d4c5b6a"),
        ("SignatureVersion", v2::SIGNATURE_VERSION),
        ("Timestamp", "2026-11-21T10:00:00Z"),
        ("TransactionId", TRANSACTION),
        ("Version", "2022-08-09"),
    ];
    let to_sign = v2::string_to_sign("POST", &params);
    v2::sign(SECRET, &to_sign)
}

fn signing(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign_checkresult");
    group.throughput(Throughput::Elements(1));
    group.bench_function("v3_acs3_hmac_sha256", |b| b.iter(|| black_box(sign_v3())));
    group.bench_function("v2_hmac_sha1", |b| b.iter(|| black_box(sign_v2())));
    group.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
