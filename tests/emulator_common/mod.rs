//! Helpers for the emulator's integration tests: start an emulator on `127.0.0.1:0` (default world
//! or a modified one), talk to it with drbook's own client (`sdrs::Client`, real signatures) or
//! with hand-made raw requests, wait for jobs, read the admin API.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]
#![allow(clippy::expect_used, reason = "test helpers fail loudly")]

use std::time::Duration;

use drbook::emulator::{Config, Emulator, InventorySource, Running, World, inventory};
use drbook::sdrs::operations::{self, Operation};
use drbook::sdrs::signer::{self, SignableRequest};
use drbook::sdrs::{Client, Error};
use http::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

/// A started emulator with a client for it.
pub struct Env {
    pub emulator: Running,
    pub client: Client,
}

impl Env {
    /// An emulator with the default world.
    pub async fn start() -> Env {
        Env::start_with(Config::default()).await
    }

    /// An emulator with the default world changed by `change`.
    pub async fn with_world(change: impl FnOnce(&mut World)) -> Env {
        let mut world = inventory::default_world().expect("default world");
        change(&mut world);
        Env::start_with(Config {
            inventory: InventorySource::World(Box::new(world)),
            ..Config::default()
        })
        .await
    }

    pub async fn start_with(config: Config) -> Env {
        let emulator = Emulator::start(config).await.expect("emulator starts");
        let client = client_for(&emulator);
        Env { emulator, client }
    }

    /// Runs an operation by SDK name with inputs by name; the response JSON or the error.
    pub async fn call(&self, name: &str, inputs: Value) -> Result<Value, Error> {
        let op = op(name);
        let inputs = match inputs {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => panic!("inputs must be an object, got {other}"),
        };
        self.client.call(op, &inputs).await
    }

    /// [`Env::call`] that must succeed.
    pub async fn ok(&self, name: &str, inputs: Value) -> Value {
        match self.call(name, inputs.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("{name} {inputs} failed: {e}"),
        }
    }

    /// [`Env::call`] that must be refused; returns (HTTP status, error code).
    pub async fn refused(&self, name: &str, inputs: Value) -> (u16, String) {
        match self.call(name, inputs.clone()).await {
            Ok(v) => panic!("{name} {inputs} should have been refused, got {v}"),
            Err(Error::Api { status, code, .. }) => (status, code.as_str().to_owned()),
            Err(e) => panic!("{name} {inputs}: expected an API error, got {e}"),
        }
    }

    /// Submits a job-returning operation and waits for its job to end; returns the final job.
    pub async fn run(&self, name: &str, inputs: Value) -> Value {
        let reply = self.ok(name, inputs).await;
        let job_id = reply["job_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} returned no job_id: {reply}"))
            .to_owned();
        self.wait(&job_id).await
    }

    /// [`Env::run`] that must end in SUCCESS.
    pub async fn run_ok(&self, name: &str, inputs: Value) -> Value {
        let job = self.run(name, inputs).await;
        assert_eq!(job["status"], "SUCCESS", "{name}: {job}");
        job
    }

    /// Polls a job until SUCCESS or FAIL.
    pub async fn wait(&self, job_id: &str) -> Value {
        for _ in 0..2000 {
            let job = self
                .ok("show_job_status", json!({ "job_id": job_id }))
                .await;
            if job["status"] == "SUCCESS" || job["status"] == "FAIL" {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("job {job_id} did not finish");
    }

    /// The status of a resource, read through its show operation.
    pub async fn status(&self, show: &str, id_name: &str, id: &str, key: &str) -> String {
        let v = self.ok(show, json!({ id_name: id })).await;
        v[key]["status"].as_str().unwrap_or_default().to_owned()
    }

    pub async fn group_status(&self, id: &str) -> String {
        self.status(
            "show_protection_group",
            "server_group_id",
            id,
            "server_group",
        )
        .await
    }

    pub async fn instance_status(&self, id: &str) -> String {
        self.status(
            "show_protected_instance",
            "protected_instance_id",
            id,
            "protected_instance",
        )
        .await
    }

    pub async fn pair_status(&self, id: &str) -> String {
        self.status("show_replication", "replication_id", id, "replication")
            .await
    }

    pub async fn server_status(&self, id: &str) -> String {
        let v = self.ok("show_server", json!({ "server_id": id })).await;
        v["server"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Stops (or starts) servers through the ECS subset and waits for the job.
    pub async fn set_servers(&self, ids: &[&str], running: bool) {
        let servers: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
        let (name, inputs) = if running {
            ("batch_start_servers", json!({ "servers": servers }))
        } else {
            (
                "batch_stop_servers",
                json!({ "servers": servers, "type": "SOFT" }),
            )
        };
        let job = self.run(name, inputs).await;
        assert_eq!(job["status"], "SUCCESS", "{job}");
    }

    /// `GET` on the admin API.
    pub async fn admin_get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.emulator.endpoint());
        reqwest::get(&url)
            .await
            .expect("admin request")
            .json()
            .await
            .expect("admin JSON")
    }

    /// A raw request signed with the emulator's credentials. `tweak` may change the headers
    /// after signing (to break the signature).
    pub async fn raw(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&str>,
        tweak: impl FnOnce(&mut HeaderMap),
    ) -> (u16, Value) {
        let signing = self.signing();
        self.raw_signed(method, path_and_query, body, signing, tweak)
            .await
    }

    /// The emulator's own signing parameters (Python SDK style), to modify.
    pub fn signing(&self) -> Signing {
        let creds = self.emulator.credentials();
        Signing {
            access_key: creds.access_key.clone(),
            secret_key: secrecy::SecretString::from(creds.secret_key.expose_secret().to_owned()),
            date: jiff::Timestamp::now(),
            project_header: Some(self.emulator.project_id().to_owned()),
            sign_host: true,
            sign_project: true,
        }
    }

    /// A raw request signed as `signing` says.
    pub async fn raw_signed(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&str>,
        signing: Signing,
        tweak: impl FnOnce(&mut HeaderMap),
    ) -> (u16, Value) {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let host = self.emulator.local_addr().to_string();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        if signing.sign_host {
            headers.insert("host", HeaderValue::from_str(&host).expect("host"));
        }
        if let (Some(project), true) = (&signing.project_header, signing.sign_project) {
            headers.insert(
                "x-project-id",
                HeaderValue::from_str(project).expect("project"),
            );
        }
        headers.insert(
            "x-sdk-date",
            HeaderValue::from_str(&signer::format_sdk_date(signing.date)).expect("date"),
        );
        let bytes = body.unwrap_or("").as_bytes();
        let auth = signer::sign(
            &SignableRequest {
                method,
                path,
                query,
                headers: &headers,
                body: bytes,
            },
            &signing.access_key,
            &signing.secret_key,
        )
        .expect("sign");
        headers.insert(
            "authorization",
            HeaderValue::from_str(&auth.header_value()).expect("auth"),
        );
        // Terraform's Go SDK adds X-Project-Id after signing.
        if let (Some(project), false) = (&signing.project_header, signing.sign_project) {
            headers.insert(
                "x-project-id",
                HeaderValue::from_str(project).expect("project"),
            );
        }
        tweak(&mut headers);
        let url = format!("{}{path_and_query}", self.emulator.endpoint());
        let client = reqwest::Client::new();
        let mut request = client
            .request(method.parse().expect("method"), &url)
            .body(bytes.to_vec());
        for (name, value) in &headers {
            if name != "host" {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.expect("raw request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// The project path prefix `/v1/{project_id}`.
    pub fn v1(&self) -> String {
        format!("/v1/{}", self.emulator.project_id())
    }

    pub async fn stop(self) {
        self.emulator.shutdown().await;
    }
}

/// How a raw request is signed.
pub struct Signing {
    pub access_key: String,
    pub secret_key: secrecy::SecretString,
    pub date: jiff::Timestamp,
    /// `X-Project-Id` to send, if any.
    pub project_header: Option<String>,
    /// Sign `Host` (Python SDK) or not (Go SDK).
    pub sign_host: bool,
    /// Sign `X-Project-Id` (Python SDK) or add it after signing (Go SDK).
    pub sign_project: bool,
}

/// A client for an emulator, with its credentials.
pub fn client_for(emulator: &Running) -> Client {
    Client::builder(emulator.client_credentials(), emulator.client_endpoint())
        .build()
        .expect("client")
}

/// The operation with this SDK name.
pub fn op(name: &str) -> &'static Operation {
    operations::by_name(name).unwrap_or_else(|| panic!("no operation {name}"))
}
