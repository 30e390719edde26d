//! Emulator throughput and memory: signed `show_protection_group` requests per second served to
//! drbook's own client (several concurrent tasks, client and emulator in one process on the same
//! machine), and the process RSS before and after creating 1,000 protected instances through the
//! API. Prints figures; run with `cargo bench --bench emulator`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use drbook::emulator::world::{Nic, Server, ServerStatus};
use drbook::emulator::{Config, Emulator, InventorySource, Running, inventory};
use drbook::sdrs::models::CreateProtectedInstanceParams;
use drbook::sdrs::{Client, Credentials, Endpoint};
use secrecy::ExposeSecret;

/// Resident set size of this process, from `/proc/self/status` (Linux), in KiB.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

fn show_rss(label: &str) -> u64 {
    let kib = rss_kib().unwrap_or(0);
    println!("{label:<56} {:>8.1} MiB", kib as f64 / 1024.0);
    kib
}

fn client_for(emulator: &Running) -> Client {
    let creds = emulator.credentials();
    let credentials = Credentials::new(
        creds.access_key.clone(),
        secrecy::SecretString::from(creds.secret_key.expose_secret().to_owned()),
        emulator.project_id(),
    );
    match Client::builder(credentials, Endpoint::Url(emulator.endpoint())).build() {
        Ok(client) => client,
        Err(e) => panic!("client: {e}"),
    }
}

/// Runs `tasks` concurrent loops of signed `show_protection_group` for `duration`; requests/s.
async fn load(client: &Client, tasks: usize, duration: Duration) -> (f64, u64) {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let client = client.clone();
        let done = Arc::clone(&done);
        let errors = Arc::clone(&errors);
        handles.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match client.show_protection_group("pg-web-0001").await {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    (
        done.load(Ordering::Relaxed) as f64 / elapsed,
        errors.load(Ordering::Relaxed),
    )
}

async fn throughput(client: &Client, label: &str) {
    // Warm up connections and caches.
    let _ = load(client, 8, Duration::from_millis(500)).await;
    for tasks in [1, 8, 32] {
        let (rate, errors) = load(client, tasks, Duration::from_secs(4)).await;
        println!(
            "{label} show_protection_group, {tasks:>2} tasks {rate:>18.0} req/s   ({errors} errors)"
        );
    }
}

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    runtime.block_on(async {
        let base = show_rss("RSS before the emulator starts");

        // The default world plus 1,000 unprotected production servers to protect.
        let mut world = match inventory::default_world() {
            Ok(w) => w,
            Err(e) => panic!("inventory: {e}"),
        };
        for n in 0..1000u32 {
            world.servers.insert(Server {
                id: format!("ecs-bench-{n:04}"),
                name: format!("ecs-bench-{n:04}"),
                status: ServerStatus::Active,
                availability_zone: "cn-north-4a".into(),
                flavor: "s6.large.2".into(),
                vpc_id: "vpc-prod-0001".into(),
                nics: vec![Nic {
                    port_id: format!("port-bench-{n:04}"),
                    subnet_id: "subnet-prod-0001".into(),
                    ip_address: format!("192.168.{}.{}", 1 + n / 250, 1 + n % 250),
                    mac_address: format!("fa:16:3e:01:{:02x}:{:02x}", n / 256, n % 256),
                }],
                created_at: jiff::Timestamp::now(),
                updated_at: jiff::Timestamp::now(),
            });
        }
        let emulator = match Emulator::start(Config {
            inventory: InventorySource::World(Box::new(world)),
            ..Config::default()
        })
        .await
        {
            Ok(e) => e,
            Err(e) => panic!("emulator: {e}"),
        };
        let client = client_for(&emulator);
        let started = show_rss("RSS with the emulator running (default world)");

        let creating = Instant::now();
        for n in 0..1000u32 {
            let result = client
                .create_protected_instance(&CreateProtectedInstanceParams {
                    server_group_id: "pg-web-0001".into(),
                    server_id: format!("ecs-bench-{n:04}"),
                    name: format!("pi-bench-{n:04}"),
                    description: None,
                    cluster_id: None,
                    primary_subnet_id: None,
                    primary_ip_address: None,
                    tags: None,
                    flavor_ref: None,
                    tenancy: None,
                    dedicated_host_id: None,
                })
                .await;
            if let Err(e) = result {
                panic!("create {n}: {e}");
            }
        }
        let count = emulator.world().protected_instances.len();
        println!(
            "created 1,000 protected instances through the API in {:.2?} ({count} in the world)",
            creating.elapsed()
        );
        let loaded = show_rss("RSS with 1,003 protected instances");
        println!(
            "{:<56} {:>8.1} MiB",
            "  growth for 1,000 instances (+ DR servers, jobs, log)",
            (loaded.saturating_sub(started)) as f64 / 1024.0
        );
        println!(
            "{:<56} {:>8.1} MiB",
            "  emulator + client above the bare process",
            (loaded.saturating_sub(base)) as f64 / 1024.0
        );

        throughput(&client, "1003 instances:").await;
        show_rss("RSS after the load (the call log holds every request)");
        emulator.shutdown().await;

        // The default world alone (3 protected instances).
        let small = match Emulator::start(Config::default()).await {
            Ok(e) => e,
            Err(e) => panic!("emulator: {e}"),
        };
        throughput(&client_for(&small), "3 instances:   ").await;
        small.shutdown().await;
    });
}
