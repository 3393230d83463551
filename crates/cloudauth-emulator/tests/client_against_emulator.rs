//! The project's Rust client (`cloudauth::Client`) against the emulator: both signature
//! schemes with and without an STS token, and every error class, with the attempt counts the
//! emulator's request log shows.

use std::time::Duration;

use cloudauth::{
    CheckResultRequest, Client, ClientConfig, Credentials, ErrorClass, RetryPolicy, SignatureScheme,
};
use cloudauth_emulator::{
    AccessKey, Emulator, EmulatorConfig, Endpoint, Fault, FaultPlan, RequestLogEntry,
    RunningEmulator, Verification, VerificationSpec,
};

const STS_ID: &str = "STS.clientid";
const STS_SECRET: &str = "client-sts-secret";
const STS_TOKEN: &str = "CAIS.client-token==";

async fn emulator() -> RunningEmulator {
    let mut config = EmulatorConfig::default();
    config
        .access_keys
        .push(AccessKey::sts(STS_ID, STS_SECRET, STS_TOKEN));
    Emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts")
}

fn fast_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        jitter: false,
    }
}

fn client_with(
    emu: &RunningEmulator,
    scheme: SignatureScheme,
    credentials: Credentials,
    retry: RetryPolicy,
) -> Client {
    let endpoint =
        cloudauth::Endpoint::custom(&emu.base_url(), true).expect("http endpoint allowed");
    let mut config = ClientConfig::new(endpoint, credentials);
    config.scheme = scheme;
    config.retry = retry;
    config.qps = None;
    Client::new(config).expect("client")
}

fn plain() -> Credentials {
    Credentials::new("testid", "testsecret", None)
}

fn sts() -> Credentials {
    Credentials::new(STS_ID, STS_SECRET, Some(STS_TOKEN.to_owned()))
}

fn request(v: &Verification) -> CheckResultRequest {
    CheckResultRequest::new(v.merchant_biz_id.clone(), v.transaction_id.clone())
        .expect("valid request")
}

fn attempts(emu: &RunningEmulator, v: &Verification) -> Vec<RequestLogEntry> {
    emu.requests()
        .into_iter()
        .filter(|e| {
            e.endpoint == Endpoint::CheckResult
                && e.transaction_id.as_ref() == Some(&v.transaction_id)
        })
        .collect()
}

#[tokio::test]
async fn both_schemes_with_and_without_sts_token() {
    let emu = emulator().await;
    let v = emu
        .create_verification(VerificationSpec::ekyc().with_video(70_000))
        .unwrap();
    for scheme in [SignatureScheme::V3, SignatureScheme::V2] {
        for (credentials, key, token) in [(plain(), "testid", false), (sts(), STS_ID, true)] {
            emu.clear_requests();
            let client = client_with(&emu, scheme, credentials, RetryPolicy::no_retries());
            let result = client
                .check_result(&request(&v).return_image(true))
                .await
                .unwrap_or_else(|e| panic!("{scheme:?}: {e}"));
            assert_eq!(result.passed(), Some(true));
            assert_eq!(result.sub_code(), Some("200"));
            let url = result.doc_video_url().expect("docVideoUrl").to_owned();
            assert!(
                url.contains(&format!("/{}.webm?Expires=", v.transaction_id)),
                "{url}"
            );
            let images = result.images();
            assert!(
                images.len() >= 2,
                "faceImg and idImage: {:?}",
                images.iter().map(|(k, _)| *k).collect::<Vec<_>>()
            );
            let log = emu.requests();
            assert_eq!(log.len(), 1);
            let expected_scheme = match scheme {
                SignatureScheme::V3 => cloudauth_emulator::SignatureScheme::V3,
                SignatureScheme::V2 => cloudauth_emulator::SignatureScheme::V2,
            };
            assert_eq!(log[0].scheme, expected_scheme);
            assert_eq!(log[0].access_key_id.as_deref(), Some(key));
            assert_eq!(log[0].has_security_token, token);
            assert_eq!(
                log[0].params.get("IsReturnImage").map(String::as_str),
                Some("Y")
            );
        }
    }
}

#[tokio::test]
async fn retry_soon_throttling_is_retried_until_success() {
    let emu = emulator().await;
    let v = emu.create_verification(VerificationSpec::ekyc()).unwrap();
    emu.set_faults(
        Endpoint::CheckResult,
        FaultPlan::script([Fault::Throttling, Fault::Throttling]),
    )
    .unwrap();
    let client = client_with(&emu, SignatureScheme::V3, plain(), fast_retries(4));
    let result = client
        .check_result(&request(&v))
        .await
        .expect("third attempt succeeds");
    assert_eq!(result.passed(), Some(true));
    let log = attempts(&emu, &v);
    let codes: Vec<&str> = log.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(codes, ["Throttling.Api", "Throttling.Api", "Success"]);
    // Every attempt is signed afresh.
    assert_ne!(log[0].nonce, log[1].nonce);
    assert_ne!(log[1].nonce, log[2].nonce);
}

#[tokio::test]
async fn retry_soon_gives_up_after_max_attempts() {
    let emu = emulator().await;
    let v = emu.create_verification(VerificationSpec::ekyc()).unwrap();
    emu.set_faults(
        Endpoint::CheckResult,
        FaultPlan::rate(Fault::ServiceUnavailable, 1.0),
    )
    .unwrap();
    let client = client_with(&emu, SignatureScheme::V2, plain(), fast_retries(3));
    let err = client.check_result(&request(&v)).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::RetrySoon);
    assert_eq!(err.code(), Some("ServiceUnavailable"));
    assert_eq!(err.status(), Some(503));
    assert_eq!(attempts(&emu, &v).len(), 3);
    // 500 InternalError is retried as well.
    emu.clear_requests();
    emu.set_faults(
        Endpoint::CheckResult,
        FaultPlan::script([Fault::InternalError]),
    )
    .unwrap();
    client
        .check_result(&request(&v))
        .await
        .expect("second attempt succeeds");
    assert_eq!(attempts(&emu, &v).len(), 2);
}

#[tokio::test]
async fn retry_soon_on_broken_bodies() {
    let emu = emulator().await;
    let v = emu.create_verification(VerificationSpec::ekyc()).unwrap();
    emu.set_faults(
        Endpoint::CheckResult,
        FaultPlan::script([Fault::ShortBody { bytes: 20 }, Fault::CutAfter { bytes: 5 }]),
    )
    .unwrap();
    let client = client_with(&emu, SignatureScheme::V3, plain(), fast_retries(3));
    let result = client
        .check_result(&request(&v))
        .await
        .expect("third attempt succeeds");
    assert_eq!(result.sub_code(), Some("200"));
    assert_eq!(attempts(&emu, &v).len(), 3);
}

#[tokio::test]
async fn retry_later_process_not_completed_is_not_retried() {
    let emu = emulator().await;
    let v = emu
        .create_verification(VerificationSpec::ekyc().not_completed_for(Duration::from_secs(600)))
        .unwrap();
    let client = client_with(&emu, SignatureScheme::V3, plain(), fast_retries(4));
    let err = client.check_result(&request(&v)).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::RetryLater);
    assert_eq!(err.code(), Some("ProcessNotCompleted"));
    assert_eq!(err.status(), Some(404));
    assert!(err.request_id().is_some());
    assert_eq!(attempts(&emu, &v).len(), 1);
    // Once completed (10 minutes later: still within the timestamp window), the call succeeds.
    emu.clock().advance(Duration::from_secs(600));
    assert!(client.check_result(&request(&v)).await.is_ok());
}

#[tokio::test]
async fn permanent_transaction_id_invalid() {
    let emu = emulator().await;
    let v = emu.create_verification(VerificationSpec::ekyc()).unwrap();
    emu.delete_verification(&v.transaction_id);
    let client = client_with(&emu, SignatureScheme::V2, plain(), fast_retries(4));
    let err = client.check_result(&request(&v)).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(err.code(), Some("TransactionIdInvalid"));
    assert_eq!(err.status(), Some(400));
    assert_eq!(attempts(&emu, &v).len(), 1);
}

#[tokio::test]
async fn configuration_errors() {
    let emu = emulator().await;
    let v = emu.create_verification(VerificationSpec::ekyc()).unwrap();
    for scheme in [SignatureScheme::V3, SignatureScheme::V2] {
        let cases = [
            (
                Credentials::new("testid", "wrong-secret", None),
                "SignatureDoesNotMatch",
            ),
            (
                Credentials::new("unknown", "testsecret", None),
                "InvalidAccessKeyId.NotFound",
            ),
            (
                Credentials::new(STS_ID, STS_SECRET, Some("CAIS.wrong".into())),
                "InvalidSecurityToken.Mismatch",
            ),
            (
                Credentials::new(STS_ID, STS_SECRET, None),
                "InvalidSecurityToken.Malformed",
            ),
        ];
        for (credentials, code) in cases {
            emu.clear_requests();
            let client = client_with(&emu, scheme, credentials, fast_retries(4));
            let err = client.check_result(&request(&v)).await.unwrap_err();
            assert_eq!(err.class(), ErrorClass::Configuration, "{scheme:?} {code}");
            assert_eq!(err.code(), Some(code), "{scheme:?}");
            assert_eq!(
                attempts(&emu, &v).len(),
                1,
                "{scheme:?} {code}: configuration errors are not retried"
            );
        }
    }
    // RAM permission and account errors.
    for (fault, code) in [
        (Fault::RamUserAccessDenied, "Forbidden.RAMUserAccessDenied"),
        (Fault::AccountAccessDenied, "Forbidden.AccountAccessDenied"),
    ] {
        emu.set_faults(Endpoint::CheckResult, FaultPlan::script([fault]))
            .unwrap();
        let client = client_with(&emu, SignatureScheme::V3, plain(), fast_retries(4));
        let err = client.check_result(&request(&v)).await.unwrap_err();
        assert_eq!(
            (err.class(), err.code(), err.status()),
            (ErrorClass::Configuration, Some(code), Some(403))
        );
    }
}

#[tokio::test]
async fn clock_skew_is_a_configuration_error_unless_signing_with_emulator_time() {
    let emu = emulator().await;
    let v = emu.create_verification(VerificationSpec::ekyc()).unwrap();
    emu.clock().advance(Duration::from_secs(20 * 60));
    let client = client_with(&emu, SignatureScheme::V3, plain(), fast_retries(4));
    let err = client.check_result(&request(&v)).await.unwrap_err();
    assert_eq!(
        (err.class(), err.code()),
        (ErrorClass::Configuration, Some("InvalidTimeStamp.Expired"))
    );
    let clock = emu.shared_clock();
    let mut config = client.config().clone();
    config.clock = cloudauth::Clock::new(move || clock.now());
    let client = Client::new(config).unwrap();
    let result = client
        .check_result(&request(&v))
        .await
        .expect("signed with emulator time");
    assert_eq!(result.passed(), Some(true));
}
