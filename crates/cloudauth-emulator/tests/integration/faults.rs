//! Fault injection on both endpoints.

use std::time::{Duration, Instant};

use cloudauth_emulator::{Endpoint, Fault, FaultPlan, FaultRule, ScriptStep, VerificationSpec};

use crate::common::*;

#[tokio::test]
async fn scripted_throttling_then_success() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    env.emu
        .set_faults(
            Endpoint::CheckResult,
            FaultPlan::script([Fault::Throttling, Fault::Throttling]),
        )
        .unwrap();
    for _ in 0..2 {
        let j = assert_gateway_error(&env.send(&env.v3(&v)).await, 403, "Throttling.Api");
        assert_eq!(j["Message"], "Request was denied due to api flow control.");
    }
    assert_eq!(env.send(&env.v3(&v)).await.status, 200);
    assert!(env.emu.faults(Endpoint::CheckResult).is_empty());
    let log = env.emu.requests();
    let faults: Vec<Option<&str>> = log.iter().map(|e| e.fault.as_deref()).collect();
    assert_eq!(faults, [Some("throttling"), Some("throttling"), None]);
    let codes: Vec<&str> = log.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(codes, ["Throttling.Api", "Throttling.Api", "Success"]);
}

#[tokio::test]
async fn every_service_error_fault() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    let cases = [
        (Fault::InternalError, 500, "InternalError"),
        (Fault::ServiceUnavailable, 503, "ServiceUnavailable"),
        (
            Fault::RamUserAccessDenied,
            403,
            "Forbidden.RAMUserAccessDenied",
        ),
        (
            Fault::AccountAccessDenied,
            403,
            "Forbidden.AccountAccessDenied",
        ),
        (
            Fault::Error {
                status: 401,
                code: "Forbidden.ExceptionRepeatedInvoke".into(),
                message: None,
            },
            401,
            "Forbidden.ExceptionRepeatedInvoke",
        ),
    ];
    for (fault, status, code) in cases {
        env.emu
            .set_faults(Endpoint::CheckResult, FaultPlan::rate(fault, 1.0))
            .unwrap();
        for call in [env.v3(&v), env.v2(&v)] {
            assert_service_error(&env.send(&call).await, status, code);
        }
    }
    env.emu.clear_faults();
    assert_eq!(env.send(&env.v3(&v)).await.status, 200);
}

#[tokio::test]
async fn faults_only_hit_authenticated_requests_and_their_targets() {
    let env = start_default().await;
    let a = env.create(VerificationSpec::ekyc());
    let b = env.create(VerificationSpec::ekyc());
    env.emu
        .set_faults(
            Endpoint::CheckResult,
            FaultPlan::script([Fault::InternalError]).for_transaction(&a.transaction_id),
        )
        .unwrap();
    // A badly signed request does not consume the step.
    let bad = env.v3(&a).with(|c| c.secret = "nope".into());
    assert_gateway_error(&env.send(&bad).await, 400, "SignatureDoesNotMatch");
    // Another transaction is untouched.
    assert_eq!(env.send(&env.v3(&b)).await.status, 200);
    assert_service_error(&env.send(&env.v3(&a)).await, 500, "InternalError");
    assert_eq!(env.send(&env.v3(&a)).await.status, 200);
    // Targeting an access key.
    env.emu
        .set_faults(
            Endpoint::CheckResult,
            FaultPlan::rate(Fault::Throttling, 1.0).for_access_key("someone-else"),
        )
        .unwrap();
    assert_eq!(env.send(&env.v3(&a)).await.status, 200);
    // A rate of 0 never fires; times > 1 repeats.
    let plan = FaultPlan {
        script: vec![ScriptStep {
            fault: Fault::ServiceUnavailable,
            times: 3,
            transaction_id: None,
            access_key_id: None,
        }],
        rules: vec![FaultRule {
            fault: Fault::InternalError,
            rate: 0.0,
            transaction_id: None,
            access_key_id: None,
        }],
    };
    env.emu.set_faults(Endpoint::CheckResult, plan).unwrap();
    for _ in 0..3 {
        assert_eq!(env.send(&env.v3(&b)).await.status, 503);
    }
    for _ in 0..5 {
        assert_eq!(env.send(&env.v3(&b)).await.status, 200);
    }
    assert!(
        env.emu
            .set_faults(Endpoint::Video, FaultPlan::rate(Fault::Pass, 2.0))
            .is_err()
    );
}

#[tokio::test]
async fn latency_is_added() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc().with_video(100));
    let delay = Duration::from_millis(300);
    env.emu
        .set_faults(
            Endpoint::CheckResult,
            FaultPlan::script([Fault::Latency { delay }]),
        )
        .unwrap();
    env.emu
        .set_faults(
            Endpoint::Video,
            FaultPlan::script([Fault::Latency { delay }]),
        )
        .unwrap();
    let t = Instant::now();
    let r = env.send(&env.v3(&v)).await;
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= delay, "{:?}", t.elapsed());
    let t = Instant::now();
    assert_eq!(env.get(&video_url(&r)).await.status, 200);
    assert!(t.elapsed() >= delay, "{:?}", t.elapsed());
    let t = Instant::now();
    assert_eq!(env.send(&env.v3(&v)).await.status, 200);
    assert!(t.elapsed() < delay, "only the scripted request is delayed");
}

#[tokio::test]
async fn slow_streaming() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc().with_video(200_000));
    env.emu
        .set_faults(
            Endpoint::Video,
            FaultPlan::script([Fault::SlowStream {
                bytes_per_second: 400_000,
            }]),
        )
        .unwrap();
    let url = env.emu.video_url(&v.transaction_id).unwrap();
    let t = Instant::now();
    let r = env.get(&url).await;
    let took = t.elapsed();
    assert_eq!(sha256(&r.body), v.video_sha256().unwrap());
    assert!(took >= Duration::from_millis(450), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

async fn read_until_error(env: &Env, url: &str) -> (Option<u64>, u64, bool) {
    let mut r = env.http.get(url).send().await.unwrap();
    let announced = r.content_length();
    let mut got = 0u64;
    loop {
        match r.chunk().await {
            Ok(Some(c)) => got += c.len() as u64,
            Ok(None) => return (announced, got, false),
            Err(_) => return (announced, got, true),
        }
    }
}

#[tokio::test]
async fn connection_cut_mid_video_then_resume() {
    let env = start_default().await;
    let size = 1_000_000;
    let v = env.create(VerificationSpec::ekyc().with_video(size));
    env.emu
        .set_faults(
            Endpoint::Video,
            FaultPlan::script([Fault::CutAfter { bytes: 300_000 }]),
        )
        .unwrap();
    let url = env.emu.video_url(&v.transaction_id).unwrap();
    let (announced, got, failed) = read_until_error(&env, &url).await;
    assert_eq!(announced, Some(size));
    assert!(failed, "the client must see an error");
    assert_eq!(
        got, 300_000,
        "the client receives exactly the bytes before the cut"
    );
    // Resume from what arrived.
    let first = env
        .get_range(&url, &format!("bytes=0-{}", got - 1))
        .await
        .body;
    let rest = env.get_range(&url, &format!("bytes={got}-")).await.body;
    assert_eq!(
        sha256(&[first.as_ref(), rest.as_ref()].concat()),
        v.video_sha256().unwrap()
    );
}

#[tokio::test]
async fn body_shorter_than_content_length() {
    let env = start_default().await;
    let size = 500_000;
    let v = env.create(VerificationSpec::ekyc().with_video(size));
    env.emu
        .set_faults(
            Endpoint::Video,
            FaultPlan::script([Fault::ShortBody { bytes: 1234 }]),
        )
        .unwrap();
    let url = env.emu.video_url(&v.transaction_id).unwrap();
    let (announced, got, failed) = read_until_error(&env, &url).await;
    assert_eq!(announced, Some(size));
    assert_eq!(got, 1234);
    assert!(
        failed,
        "a body shorter than Content-Length is an error for the client"
    );
    // On CheckResult too.
    env.emu
        .set_faults(
            Endpoint::CheckResult,
            FaultPlan::script([Fault::ShortBody { bytes: 10 }]),
        )
        .unwrap();
    let prepared = env.v3(&v).prepare(&env.emu.endpoint());
    let mut rb = env.http.post(&prepared.url);
    for (k, val) in &prepared.headers {
        rb = rb.header(k, val);
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err());
}

#[tokio::test]
async fn wrong_content_type() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc().with_video(1000));
    let wrong = Fault::WrongContentType {
        content_type: "text/html;charset=utf-8".into(),
    };
    env.emu
        .set_faults(Endpoint::CheckResult, FaultPlan::script([wrong.clone()]))
        .unwrap();
    env.emu
        .set_faults(Endpoint::Video, FaultPlan::script([wrong]))
        .unwrap();
    let r = env.send(&env.v3(&v)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), "text/html;charset=utf-8");
    let r = env.get(&video_url(&r)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), "text/html;charset=utf-8");
    assert_eq!(sha256(&r.body), v.video_sha256().unwrap());
}

#[tokio::test]
async fn video_error_faults_are_oss_errors() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc().with_video(1000));
    let url = env.emu.video_url(&v.transaction_id).unwrap();
    env.emu
        .set_faults(
            Endpoint::Video,
            FaultPlan::script([
                Fault::InternalError,
                Fault::ServiceUnavailable,
                Fault::Throttling,
            ]),
        )
        .unwrap();
    for (status, code) in [
        (500, "InternalError"),
        (503, "ServiceUnavailable"),
        (503, "SlowDown"),
    ] {
        let r = env.get(&url).await;
        assert_eq!(r.status, status);
        assert_eq!(r.content_type(), "application/xml");
        assert!(
            r.text().contains(&format!("<Code>{code}</Code>")),
            "{}",
            r.text()
        );
    }
    assert_eq!(env.get(&url).await.status, 200);
    let log: Vec<_> = env
        .emu
        .requests()
        .into_iter()
        .filter(|e| e.endpoint == Endpoint::Video)
        .collect();
    assert_eq!(log.len(), 4);
    assert_eq!(log[3].code, "OK");
}
