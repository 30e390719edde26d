//! The secret key (and the security token) never reach a log line, an error message, or the
//! Debug output of the credentials, the client or any error, across every operation and every
//! error body form. Its own test binary, because it installs a global log subscriber.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests unwrap what they just built"
)]

mod support;

use std::sync::{Arc, Mutex};

use drbook::sdrs::operations;
use drbook::sdrs::{Client, Credentials, Endpoint};
use secrecy::SecretString;
use support::sdrs_samples::*;

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn the_secret_key_never_reaches_logs_errors_or_debug_output() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    // A global subscriber: a thread-local one misses events whose call sites other threads (the
    // client's connection tasks) registered first. This binary holds only this test.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let mut creds = credentials();
    creds.security_token = Some(SecretString::from("Token-Drbook-Test-0123456789"));
    let (server, mode) = stub();
    let client = Client::builder(creds.clone(), Endpoint::Url(server.url.clone()))
        .build()
        .unwrap();
    let mut texts = vec![format!("{creds:?}"), format!("{client:?}")];
    for op in operations::all() {
        *mode.lock().unwrap() = Mode::Success(op);
        client.call(op, &sample_inputs(op)).await.unwrap();
        for form in error_forms() {
            *mode.lock().unwrap() = Mode::Fail(form.reply);
            let err = client.call(op, &sample_inputs(op)).await.unwrap_err();
            texts.push(format!("{err}"));
            texts.push(format!("{err:?}"));
        }
    }
    let sent = server.take();
    assert!(
        sent.iter()
            .all(|r| r.header("x-security-token") == Some("Token-Drbook-Test-0123456789"))
    );
    for url in ["http://127.0.0.1:1".to_owned()] {
        let err = Client::builder(creds.clone(), Endpoint::Url(url))
            .build()
            .unwrap()
            .show_quota()
            .await
            .unwrap_err();
        texts.push(format!("{err}"));
        texts.push(format!("{err:?}"));
    }
    let env_err = Credentials::from_lookup(|name| (name == "HW_SECRET_KEY").then(|| SK.to_owned()))
        .unwrap_err();
    texts.push(format!("{env_err} {env_err:?}"));

    let log_text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        log_text.contains("sdrs request"),
        "no request log lines:\n{log_text}"
    );
    assert!(
        log_text.contains("operation=\"show_quota\"") || log_text.contains("operation=show_quota"),
        "{log_text}"
    );
    assert!(log_text.contains("status=503"), "{log_text}");
    assert!(
        log_text.contains("request_id=req-400") || log_text.contains("request_id=\"req-400\""),
        "{log_text}"
    );
    assert!(
        log_text.contains("<redacted>"),
        "trace logs should show redacted headers:\n{log_text}"
    );
    texts.push(log_text);
    for text in &texts {
        assert!(!text.contains(SK), "the secret key leaked: {text}");
        assert!(
            !text.contains("Token-Drbook-Test-0123456789"),
            "the token leaked: {text}"
        );
        assert!(!text.contains("Signature="), "a signature leaked: {text}");
    }
}
