//! Throughput of the SDRS request path that runs on every call: building a request from the
//! operation table, signing it, and (emulator side) verifying the signature. Prints figures;
//! run with `cargo bench --bench sdrs_signing`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use drbook::sdrs::operations;
use drbook::sdrs::request;
use drbook::sdrs::signer::{self, ClockCheck, SignableRequest};
use http::{HeaderMap, HeaderValue};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

const AK: &str = "HPUAEXAMPLEAK0000001";
const SK: &str = "ExampleSecretKey0000000000000000000000001";
const PROJECT: &str = "0605767ef300d5762fd3c0147d8a8f1e";

/// Runs `f` for about `budget` and returns (iterations, per-second rate, mean time per call).
fn measure(budget: Duration, mut f: impl FnMut()) -> (u64, f64, Duration) {
    for _ in 0..1000 {
        f();
    }
    let started = Instant::now();
    let mut iterations = 0u64;
    while started.elapsed() < budget {
        for _ in 0..256 {
            f();
        }
        iterations += 256;
    }
    let elapsed = started.elapsed();
    (
        iterations,
        iterations as f64 / elapsed.as_secs_f64(),
        elapsed / u32::try_from(iterations).unwrap_or(u32::MAX),
    )
}

fn report(name: &str, (iterations, rate, mean): (u64, f64, Duration)) {
    println!("{name:<48} {rate:>12.0} /s   {mean:>10.2?} per call   ({iterations} calls)");
}

fn main() {
    let budget = Duration::from_secs(2);
    let op = operations::find("create_protection_group");
    let inputs: Map<String, Value> = serde_json::from_value(json!({
        "name": "pg-web", "description": "conformance", "source_availability_zone": "az-1a",
        "target_availability_zone": "az-1b", "domain_id": "domain-0001",
        "source_vpc_id": "vpc-0001", "dr_type": "migration"
    }))
    .unwrap_or_default();
    report(
        "build create_protection_group (validate + body)",
        measure(budget, || {
            black_box(request::build(op, PROJECT, black_box(&inputs)).ok());
        }),
    );

    let built = match request::build(op, PROJECT, &inputs) {
        Ok(built) => built,
        Err(e) => panic!("cannot build the sample request: {e}"),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    headers.insert("user-agent", HeaderValue::from_static("drbook/0.1.0"));
    headers.insert("x-project-id", HeaderValue::from_static(PROJECT));
    headers.insert("x-sdk-date", HeaderValue::from_static("20240102T030405Z"));
    headers.insert("host", HeaderValue::from_static("127.0.0.1:8443"));
    let body = built.body.clone().unwrap_or_default();
    let sk = SecretString::from(SK);
    let request = SignableRequest {
        method: "POST",
        path: &built.path,
        query: &built.query,
        headers: &headers,
        body: &body,
    };
    report(
        "sign (canonical request + HMAC-SHA256)",
        measure(budget, || {
            black_box(signer::sign(black_box(&request), AK, &sk).ok());
        }),
    );

    let authorization = match signer::sign(&request, AK, &sk) {
        Ok(auth) => auth.header_value(),
        Err(e) => panic!("cannot sign the sample request: {e}"),
    };
    let mut signed = headers.clone();
    signed.insert(
        "authorization",
        HeaderValue::from_str(&authorization).unwrap_or(HeaderValue::from_static("")),
    );
    let received = SignableRequest {
        headers: &signed,
        ..request
    };
    report(
        "verify (parse + canonical request + HMAC)",
        measure(budget, || {
            let ok = signer::verify(
                black_box(&received),
                |_| Some(SecretString::from(SK)),
                ClockCheck::Skip,
            )
            .is_ok();
            assert!(ok);
        }),
    );
}
