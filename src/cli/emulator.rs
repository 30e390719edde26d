//! `drbook emulator`: runs the local SDRS (and ECS subset) until Ctrl-C, and prints what a client
//! needs to use it: the endpoint, the project id, and the emulator's own throwaway AK/SK, once,
//! with `export` lines for the official SDK and drbook.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

use crate::emulator::faults::friendly_duration;
use crate::emulator::{Config, Credentials, Emulator, InventorySource};

/// Arguments of `drbook emulator`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// YAML inventory replacing the default world (see `default_inventory.yaml`).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// YAML or JSON fault rules applied from the start.
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// How long every job takes, in emulated time (`0s`, `2s`, `1m`).
    #[arg(long, default_value = "0s", value_parser = friendly_duration::parse)]
    pub job_latency: Duration,
    /// Emulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Load the world from this file if it exists, and save it after every change.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Fixed access key (random by default); needs --sk.
    #[arg(long, requires = "sk")]
    pub ak: Option<String>,
    /// Fixed secret key (random by default); needs --ak.
    #[arg(long, requires = "ak", value_parser = secret)]
    pub sk: Option<SecretString>,
    /// Fixed project id (random by default, or the state file's).
    #[arg(long)]
    pub project_id: Option<String>,
}

/// Keeps a secret given on the command line out of `Debug` output.
fn secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text.to_owned()))
}

/// Runs the emulator until Ctrl-C (or SIGTERM), then shuts it down gracefully.
pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let credentials = match (args.ak, args.sk) {
        (Some(access_key), Some(secret_key)) => Some(Credentials {
            access_key,
            secret_key,
        }),
        _ => None,
    };
    let config = Config {
        listen: args.listen,
        inventory: args
            .inventory
            .map_or(InventorySource::Default, InventorySource::File),
        faults_file: args.faults,
        faults: Vec::new(),
        job_latency: args.job_latency,
        time_scale: args.time_scale,
        state_file: args.state,
        credentials,
        project_id: args.project_id,
        check_signing_time: true,
    };
    let running = Emulator::start(config)
        .await
        .context("cannot start the emulator")?;
    let endpoint = running.endpoint();
    let creds = running.credentials();
    // The secret key is the emulator's own throwaway credential: shown once, here, so that a
    // client can be pointed at the emulator.
    println!("drbook emulator listening on {endpoint}");
    println!("project id: {}", running.project_id());
    println!("access key: {}", creds.access_key);
    println!("secret key: {}", creds.secret_key.expose_secret());
    println!();
    println!("export HUAWEICLOUD_SDK_AK={}", creds.access_key);
    println!(
        "export HUAWEICLOUD_SDK_SK={}",
        creds.secret_key.expose_secret()
    );
    println!("export HUAWEICLOUD_SDK_PROJECT_ID={}", running.project_id());
    println!("export DRBOOK_SDRS_ENDPOINT={endpoint}");
    // The official SDKs pick these up when a client is built with a region.
    println!("export HUAWEICLOUD_SDK_REGION_SDRS_CN_NORTH_4={endpoint}");
    println!("export HUAWEICLOUD_SDK_REGION_ECS_CN_NORTH_4={endpoint}");
    eprintln!("admin API: {endpoint}/_emulator/calls, /faults, /state, /config; Ctrl-C stops");

    wait_for_stop().await?;
    eprintln!("stopping the emulator");
    running.shutdown().await;
    eprintln!("emulator stopped");
    Ok(())
}

#[cfg(unix)]
async fn wait_for_stop() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_stop() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")
}
