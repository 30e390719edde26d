//! A local SDRS (and the ECS subset runbooks need), faithful enough that every drbook run and
//! test can use it instead of the real service: the 49 SDRS operations with the reference's
//! paths, fields, status codes, state machines and error codes, AK/SK signature checks,
//! asynchronous jobs on a scalable clock, a default world to work in, fault injection, a call
//! log, and an admin API.
//!
//! It is built on `sdrs`'s operation table and signer (it shares them, never copies them) and is
//! started in-process with [`Emulator::start`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), drbook::emulator::Error> {
//! use drbook::emulator::{Config, Emulator};
//! let emulator = Emulator::start(Config::default()).await?;
//! println!("{} {}", emulator.endpoint(), emulator.project_id());
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Layout: `world` (the data), `inventory` (the default world), `rules/` (the transition tables),
//! `api/` (one handler per operation), `jobs` + `effects` (asynchronous work), `faults`, `calls`,
//! `routing`, `server` (HTTP), `admin` (the `/_emulator` API), `persist` (the state file).

mod admin;
pub mod api;
pub mod calls;
pub mod clock;
mod effects;
mod error;
pub mod faults;
pub mod inventory;
pub mod jobs;
pub mod keyed;
mod persist;
pub mod routing;
pub mod rules;
mod server;
pub mod timefmt;
mod views;
pub mod world;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rand::RngExt;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use calls::{CallFilter, CallRecord, Outcome};
pub use error::Error;
pub use faults::{FaultAction, FaultRule};
pub use world::World;

use server::{Shared, lock};

/// An AK/SK pair. The secret key never appears in `Debug` output.
#[derive(Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: SecretString,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"[REDACTED]")
            .finish()
    }
}

fn random_text(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

impl Credentials {
    /// Fresh random credentials in the shape of Huawei's (a 20-character AK, a 40-character SK).
    pub fn random() -> Self {
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        const MIXED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        Self {
            access_key: random_text(20, UPPER),
            secret_key: SecretString::from(random_text(40, MIXED)),
        }
    }
}

/// Where the world comes from.
#[derive(Debug, Clone, Default)]
pub enum InventorySource {
    /// The compiled-in default world (`default_inventory.yaml`).
    #[default]
    Default,
    /// A YAML inventory file.
    File(PathBuf),
    /// A world built by the caller.
    World(Box<World>),
}

/// How to start the emulator.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    pub inventory: InventorySource,
    /// A YAML/JSON file of fault rules applied from the start.
    pub faults_file: Option<PathBuf>,
    /// Fault rules applied from the start (after those of `faults_file`).
    pub faults: Vec<FaultRule>,
    /// How long every job takes, in emulated time (0: jobs finish before the response).
    pub job_latency: Duration,
    /// Emulated seconds per real second.
    pub time_scale: f64,
    /// Load the world from this file if it exists (instead of the inventory) and save it after
    /// every change.
    pub state_file: Option<PathBuf>,
    /// Fixed credentials; fresh random ones when `None`.
    pub credentials: Option<Credentials>,
    /// Fixed project id; the state file's, or a random one, when `None`.
    pub project_id: Option<String>,
    /// Refuse signatures dated more than 15 minutes away (as the API gateway does). Tests that
    /// replay signed requests with pinned dates turn it off.
    pub check_signing_time: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            inventory: InventorySource::Default,
            faults_file: None,
            faults: Vec::new(),
            job_latency: Duration::ZERO,
            time_scale: 1.0,
            state_file: None,
            credentials: None,
            project_id: None,
            check_signing_time: true,
        }
    }
}

/// Entry point.
pub struct Emulator;

impl Emulator {
    /// Loads the world, binds the listener and starts serving. Returns once the emulator
    /// accepts requests.
    pub async fn start(config: Config) -> Result<Running, Error> {
        let time_scale = clock::validate_scale(config.time_scale).map_err(Error::Config)?;
        let state_file = config.state_file.clone().map(persist::StateFile::new);
        let saved = match &state_file {
            Some(f) => f.load()?,
            None => None,
        };
        let mut world = match saved {
            Some(world) => world,
            None => match &config.inventory {
                InventorySource::Default => inventory::default_world()?,
                InventorySource::File(path) => inventory::load(path)?,
                InventorySource::World(world) => {
                    let problems = world.check();
                    if !problems.is_empty() {
                        return Err(Error::InconsistentInventory(problems.join("; ")));
                    }
                    (**world).clone()
                }
            },
        };
        let project_id = match (&config.project_id, world.project_id.is_empty()) {
            (Some(p), _) => p.clone(),
            (None, false) => world.project_id.clone(),
            (None, true) => uuid::Uuid::now_v7().simple().to_string(),
        };
        world.project_id = project_id.clone();

        let mut fault_set = faults::FaultSet::default();
        let mut rules = match &config.faults_file {
            Some(path) => faults::load(path)?,
            None => Vec::new(),
        };
        rules.extend(config.faults.iter().cloned());
        for rule in rules {
            fault_set.add(rule)?;
        }

        let credentials = config
            .credentials
            .clone()
            .unwrap_or_else(Credentials::random);
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;

        let shared = Arc::new(Shared::new(
            project_id,
            credentials.access_key.clone(),
            credentials.secret_key.clone(),
            clock::Clock::new(time_scale),
            world,
            fault_set,
            config.job_latency,
            state_file,
            config.check_signing_time,
        ));
        let first = {
            let world = lock(&shared.world);
            shared.snapshot(&world)
        };
        shared.persist(first).await;

        let router = Router::new()
            .merge(admin::router())
            .fallback(server::service_entry)
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = watch::channel(false);
        let server_task = tokio::spawn(server::serve(listener, router, stopped.clone()));
        let driver_task = tokio::spawn(server::drive_jobs(Arc::clone(&shared), stopped));
        tracing::info!(endpoint = %format!("http://{local_addr}"), project_id = %shared.project_id, "emulator started");
        Ok(Running {
            shared,
            credentials,
            local_addr,
            stop,
            tasks: vec![server_task, driver_task],
        })
    }
}

/// A running emulator. Dropping it without [`Running::shutdown`] leaves its tasks running until
/// the runtime ends.
pub struct Running {
    shared: Arc<Shared>,
    credentials: Credentials,
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// `http://127.0.0.1:PORT`: the endpoint for both SDRS and the ECS subset.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn project_id(&self) -> &str {
        &self.shared.project_id
    }

    /// The AK/SK the emulator accepts.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The emulator's credentials and project in the form drbook's client takes, so that
    /// `sdrs::Client::builder(running.client_credentials(), running.client_endpoint())` talks to
    /// it.
    pub fn client_credentials(&self) -> crate::sdrs::Credentials {
        crate::sdrs::Credentials::new(
            self.credentials.access_key.clone(),
            self.credentials.secret_key.clone(),
            self.project_id(),
        )
    }

    /// The endpoint in the form drbook's client takes.
    pub fn client_endpoint(&self) -> crate::sdrs::Endpoint {
        crate::sdrs::Endpoint::Url(self.endpoint())
    }

    /// Every logged call, oldest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.calls_matching(&CallFilter::default())
    }

    /// The logged calls matching a filter.
    pub fn calls_matching(&self, filter: &CallFilter) -> Vec<CallRecord> {
        lock(&self.shared.calls).query(filter)
    }

    /// Adds a fault rule (after the existing ones); returns its id.
    pub fn add_fault(&self, rule: FaultRule) -> Result<String, Error> {
        lock(&self.shared.faults).add(rule)
    }

    /// Removes one fault rule; returns whether it existed.
    pub fn remove_fault(&self, id: &str) -> bool {
        lock(&self.shared.faults).remove(id)
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Latency of jobs submitted from now on (emulated time).
    pub fn set_job_latency(&self, latency: Duration) {
        self.shared.set_job_latency(latency);
    }

    /// Speed of emulated time from now on.
    pub fn set_time_scale(&self, scale: f64) -> Result<(), Error> {
        let scale = clock::validate_scale(scale).map_err(Error::Config)?;
        self.shared.clock.set_scale(scale);
        self.shared.wake_driver.notify_one();
        Ok(())
    }

    /// A copy of the world as it is now. (A job that has just come due may not be settled yet;
    /// the job driver settles it within moments.)
    pub fn world(&self) -> World {
        lock(&self.shared.world).clone()
    }

    /// Stops accepting requests, lets open requests finish, stops the job driver, and saves
    /// the state file one last time.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        let last = {
            let world = lock(&self.shared.world);
            self.shared.snapshot(&world)
        };
        self.shared.persist(last).await;
        tracing::info!("emulator stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_stay_out_of_debug_output() {
        let config = Config {
            credentials: Some(Credentials {
                access_key: "AK-VISIBLE".into(),
                secret_key: SecretString::from("SK-MUST-NOT-SHOW".to_owned()),
            }),
            ..Config::default()
        };
        let text = format!("{config:?}");
        assert!(text.contains("AK-VISIBLE"));
        assert!(!text.contains("SK-MUST-NOT-SHOW"), "{text}");
        let random = Credentials::random();
        assert_eq!(random.access_key.len(), 20);
        assert!(
            !format!("{random:?}")
                .contains(secrecy::ExposeSecret::expose_secret(&random.secret_key))
        );
    }
}
