//! `ghostctl up`: the whole local system in one command.
//!
//! Migrates, creates an admin token on first run (printed once), starts every service binary
//! found beside `ghostctl` as a child process with its ports, waits until each answers
//! `/healthz`, prints where everything listens, and forwards the children's logs (they inherit
//! stdout/stderr). Ctrl-C or SIGTERM stops them all with SIGTERM (drain), then SIGKILL after a
//! grace period; if one child dies, the others are stopped too and `up` exits 1.
//!
//! State lives in one directory (`--state-dir`, `.ghostlink/`): the click salt, the redirect's
//! spool and a fallback blocklist. The salt is generated on the first run (32 random bytes, a
//! file of mode 0600) and reused after, so client hashes stay comparable from run to run and
//! cannot be reversed with the published development default. It is a file, not a database
//! row: the database holds the hashes the salt protects, and a dump of it must not carry the
//! key to them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use clap::Args;
use ghostlink_config::DatabaseArgs;
use ghostlink_domain::Role;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rand::RngCore;

use crate::Failure;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address every service listens on.
    #[arg(long, env = "GHOSTLINK_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Redis URL handed to the services.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// RabbitMQ URL handed to the services.
    #[arg(long, env = "AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// Added to every default port (8080, 9101, …), to run a second system beside the first.
    #[arg(long, env = "GHOSTLINK_PORT_OFFSET", default_value_t = 0)]
    port_offset: u16,
    /// Log level of the services.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// The ghost-probe's mode: `observe` records findings; `enforce` also has the redirect
    /// answer flagged clients 429.
    #[arg(long, env = "PROBE_MODE", default_value = "observe")]
    probe_mode: String,
    /// Directory of the local system's state: the click salt (`click_salt`, made on the first
    /// run; every service gets it as `CLICK_SALT`), the redirect's spool, a fallback blocklist.
    #[arg(long, env = "GHOSTLINK_STATE_DIR", default_value = ".ghostlink")]
    state_dir: PathBuf,
}

/// The file in the state directory that holds the click salt.
const SALT_FILE: &str = "click_salt";
/// Characters a kept salt must have at least (a generated one has 64).
const MIN_SALT_LEN: usize = 32;

/// A service `up` knows how to start: binary name, public port (if any), ops port.
struct ServiceSpec {
    name: &'static str,
    binary: &'static str,
    public_port: Option<u16>,
    /// The internal admin API's port (ADMIN_LISTEN_ADDR), for the service that has one.
    admin_port: Option<u16>,
    ops_port: u16,
}

const SERVICES: &[ServiceSpec] = &[
    ServiceSpec {
        name: "redirect",
        binary: "ghostlink-redirect",
        public_port: Some(8080),
        admin_port: None,
        ops_port: 9101,
    },
    ServiceSpec {
        name: "shortener",
        binary: "ghostlink-shortener",
        public_port: Some(8081),
        admin_port: Some(8091),
        ops_port: 9102,
    },
    ServiceSpec {
        name: "canary",
        binary: "ghostlink-canary",
        public_port: None,
        admin_port: None,
        ops_port: 9103,
    },
    ServiceSpec {
        name: "risk-scorer",
        binary: "ghostlink-risk-scorer",
        public_port: None,
        admin_port: None,
        ops_port: 9104,
    },
    ServiceSpec {
        name: "ghost-probe",
        binary: "ghostlink-ghost-probe",
        public_port: None,
        admin_port: None,
        ops_port: 9105,
    },
    ServiceSpec {
        name: "click-recorder",
        binary: "ghostlink-click-recorder",
        public_port: None,
        admin_port: None,
        ops_port: 9106,
    },
    ServiceSpec {
        name: "webhook-dispatcher",
        binary: "ghostlink-webhook-dispatcher",
        public_port: None,
        admin_port: None,
        ops_port: 9107,
    },
    ServiceSpec {
        name: "console",
        binary: "ghostlink-console",
        public_port: Some(CONSOLE_PORT),
        admin_port: None,
        ops_port: 9108,
    },
];

/// The console's public port (before `--port-offset`).
const CONSOLE_PORT: u16 = 8083;

struct Running {
    spec: &'static ServiceSpec,
    child: Child,
}

pub fn run(db: &DatabaseArgs, args: UpArgs) -> Result<(), Failure> {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .ok_or_else(|| Failure::other("cannot find the directory of ghostctl"))?;
    crate::migrate(&db.database_url)?;
    let salt = click_salt(&args.state_dir)?;

    let first_run = {
        let pool = ghostlink_db::Db::new(&ghostlink_db::DbSettings {
            url: db.database_url.clone(),
            pool_size: 1,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        });
        !ghostlink_db::tokens::any(&mut *pool.get()?)?
    };
    let admin_token =
        if first_run { Some(crate::tokens::create(&db.database_url, "admin", Role::Admin)?) } else { None };

    let port = |p: u16| -> Result<u16, Failure> {
        p.checked_add(args.port_offset)
            .ok_or_else(|| Failure::usage("--port-offset pushes a port past 65535"))
    };
    let redirect_port = port(8080)?;
    let blocklist = blocklist_path(&dir, &args.state_dir);
    let mut running: Vec<Running> = Vec::new();
    for spec in SERVICES {
        let bin = dir.join(spec.binary);
        if !bin.exists() {
            continue;
        }
        let mut cmd = Command::new(&bin);
        cmd.env("DATABASE_URL", &db.database_url)
            .env("DB_POOL_SIZE", db.db_pool_size.to_string())
            .env("REDIS_URL", &args.redis_url)
            .env("AMQP_URL", &args.amqp_url)
            .env("LOG_LEVEL", &args.log_level)
            .env("PROBE_MODE", &args.probe_mode)
            .env("OPS_LISTEN_ADDR", format!("{}:{}", args.host, port(spec.ops_port)?))
            .env("PUBLIC_BASE_URL", format!("http://{}:{redirect_port}", args.host))
            .env("CLICK_SALT", &salt)
            .env("CONSOLE_API_URL", format!("http://{}:{}", args.host, port(8081)?))
            .env("CONSOLE_PUBLIC_URL", format!("http://{}:{}", args.host, port(CONSOLE_PORT)?))
            .env_remove("CLICK_SALT_FILE");
        if let Some(p) = spec.public_port {
            cmd.env("LISTEN_ADDR", format!("{}:{}", args.host, port(p)?));
        }
        if let Some(p) = spec.admin_port {
            cmd.env("ADMIN_LISTEN_ADDR", format!("{}:{}", args.host, port(p)?));
        }
        if std::env::var_os("RISK_BLOCKLIST").is_none() {
            cmd.env("RISK_BLOCKLIST", &blocklist);
        }
        if std::env::var_os("SPOOL_DIR").is_none() {
            cmd.env("SPOOL_DIR", args.state_dir.join("spool").join(spec.name));
        }
        match cmd.spawn() {
            Ok(child) => running.push(Running { spec, child }),
            Err(e) => {
                stop_all(&mut running);
                return Err(Failure::other(format!("starting {}: {e}", bin.display())));
            }
        }
    }
    if running.is_empty() {
        return Err(Failure::other(format!(
            "no service binaries beside ghostctl in {}; run `cargo build --release` first",
            dir.display()
        )));
    }

    // Wait for every service to answer /healthz.
    let deadline = Instant::now() + Duration::from_secs(60);
    for r in &mut running {
        let addr: SocketAddr = format!("{}:{}", args.host, port(r.spec.ops_port)?)
            .parse()
            .map_err(|_| Failure::usage(format!("--host '{}' is not an IP address", args.host)))?;
        loop {
            if healthy(addr) {
                break;
            }
            if let Ok(Some(status)) = r.child.try_wait() {
                let msg = format!("{} exited during start-up ({status}); see its log above", r.spec.name);
                stop_all(&mut running);
                return Err(Failure::other(msg));
            }
            if Instant::now() > deadline {
                let msg = format!("{} did not become healthy within 60s", r.spec.name);
                stop_all(&mut running);
                return Err(Failure::other(msg));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    let mut banner = String::from("\nGhostLink is up:\n");
    for r in &running {
        let public = match r.spec.public_port {
            Some(p) => format!("http://{}:{}", args.host, port(p)?),
            None => "-".into(),
        };
        banner.push_str(&format!(
            "  {:<15} public {:<26} ops http://{}:{}/metrics\n",
            r.spec.name,
            public,
            args.host,
            port(r.spec.ops_port)?
        ));
        if let Some(p) = r.spec.admin_port {
            banner.push_str(&format!("  {:<15} admin  http://{}:{}/admin/v1\n", "", args.host, port(p)?));
        }
    }
    if running.iter().any(|r| r.spec.name == "console") {
        banner.push_str(&format!(
            "\nConsole: http://{}:{} (first owner: `ghostctl account create-owner --name NAME --email EMAIL`)\n",
            args.host,
            port(CONSOLE_PORT)?
        ));
    }
    match &admin_token {
        Some(t) => banner.push_str(&format!("\nAdmin token (shown once; store it): {t}\n")),
        None => banner.push_str(
            "\nTokens exist already; create another with `ghostctl token create --name NAME --role admin`.\n",
        ),
    }
    banner.push_str(&format!(
        "Click salt: {} (kept; delete it and the client hashes start over)\n",
        args.state_dir.join(SALT_FILE).display()
    ));
    banner.push_str("Stop with Ctrl-C.\n\n");
    eprint!("{banner}");
    let _ = std::io::stderr().flush();

    // Wait for a signal or for a child to die.
    let signalled = wait_for_signal_or_exit(&mut running);
    stop_all(&mut running);
    match signalled {
        Ok(()) => Ok(()),
        Err(name) => Err(Failure::other(format!("{name} exited unexpectedly; stopped the others"))),
    }
}

/// The click salt kept in `state_dir`: read when the file exists, else made (32 bytes from the
/// OS's CSPRNG, hex) and stored with mode 0600. A kept file must be private to its owner and
/// hold at least [`MIN_SALT_LEN`] visible characters; anything else is refused (exit 2), never
/// silently replaced, since replacing it would change every client hash.
fn click_salt(state_dir: &Path) -> Result<String, Failure> {
    let path = state_dir.join(SALT_FILE);
    match read_salt(&path)? {
        Some(salt) => Ok(salt),
        None => {
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let salt: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            store_salt(state_dir, &path, &salt)?;
            // Another `up` may have stored its own first: the file decides.
            read_salt(&path)?.ok_or_else(|| Failure::other(format!("{} vanished", path.display())))
        }
    }
}

fn read_salt(path: &Path) -> Result<Option<String>, Failure> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Failure::other(format!("reading {}: {e}", path.display()))),
    };
    let mode = meta.permissions().mode() & 0o777;
    if !meta.is_file() || mode & 0o077 != 0 {
        return Err(Failure::usage(format!(
            "{} must be a file only its owner can read (mode {mode:o}); chmod 600 it",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::other(format!("reading {}: {e}", path.display())))?;
    let salt = text.trim();
    if salt.len() < MIN_SALT_LEN || !salt.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Failure::usage(format!(
            "{} must hold a salt of at least {MIN_SALT_LEN} visible ASCII characters",
            path.display()
        )));
    }
    Ok(Some(salt.to_string()))
}

/// Writes the salt to a private temporary file, then links it into place: the salt file is
/// never seen half-written, and an existing one is never overwritten.
fn store_salt(state_dir: &Path, path: &Path, salt: &str) -> Result<(), Failure> {
    let io = |what: &str, e: std::io::Error| Failure::other(format!("{what}: {e}"));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)
        .map_err(|e| io(&format!("creating {}", state_dir.display()), e))?;
    let tmp = state_dir.join(format!(".{SALT_FILE}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(format!("{salt}\n").as_bytes()).and_then(|_| f.sync_all()));
    let linked = written.and_then(|_| match std::fs::hard_link(&tmp, path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| io(&format!("writing {}", path.display()), e))
}

/// The risk blocklist for a local run: the repository's `ops/risk/blocklist.txt` (found from the
/// working directory or from `target/<profile>/`), else an empty one in the state directory.
fn blocklist_path(bin_dir: &Path, state_dir: &Path) -> PathBuf {
    let candidates = [PathBuf::from("ops/risk/blocklist.txt"), bin_dir.join("../../ops/risk/blocklist.txt")];
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return found.clone();
    }
    let fallback = state_dir.join("blocklist.txt");
    if !fallback.is_file() {
        let _ = std::fs::create_dir_all(state_dir);
        let _ = std::fs::write(&fallback, "# local blocklist: one domain per line\n");
    }
    fallback
}

fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /healthz HTTP/1.0\r\nHost: ghostctl\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
}

fn wait_for_signal_or_exit(running: &mut [Running]) -> Result<(), &'static str> {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(_) => return Ok(()),
    };
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => return Ok(()),
                _ = tick.tick() => {
                    for r in running.iter_mut() {
                        if let Ok(Some(_)) = r.child.try_wait() {
                            return Err(r.spec.name);
                        }
                    }
                }
            }
        }
    })
}

/// SIGTERM to every child, then SIGKILL to those still alive after 20 s.
fn stop_all(running: &mut [Running]) {
    for r in running.iter() {
        if let Ok(pid) = i32::try_from(r.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for r in running.iter_mut() {
        loop {
            match r.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = r.child.kill();
                    let _ = r.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    eprintln!("all services stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ghostctl-up-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0)
    }

    #[test]
    fn the_first_run_makes_a_private_random_salt_and_later_runs_reuse_it() {
        let dir = temp_dir("salt");
        let first = click_salt(&dir).map_err(|f| f.message).expect("first run");
        let path = dir.join(SALT_FILE);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert!(first.len() >= MIN_SALT_LEN && first.chars().all(|c| c.is_ascii_hexdigit()), "{first}");
        assert_ne!(first, "ghostlink-dev-salt");
        assert_eq!(click_salt(&dir).map_err(|f| f.message).expect("second run"), first);
        assert_eq!(std::fs::read_to_string(&path).expect("read").trim(), first);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 1);
        // Another state directory gets another salt.
        let other = temp_dir("salt-other");
        assert_ne!(click_salt(&other).map_err(|f| f.message).expect("other"), first);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&other);
    }

    #[test]
    fn a_salt_file_others_can_read_or_too_short_is_refused_not_replaced() {
        let dir = temp_dir("salt-bad");
        let path = dir.join(SALT_FILE);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(&path, format!("{}\n", "a".repeat(40))).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let refused = click_salt(&dir).err().map(|f| (f.code, f.message));
        assert!(matches!(&refused, Some((2, m)) if m.contains("chmod 600")), "{refused:?}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(click_salt(&dir).map_err(|f| f.message).expect("kept salt"), "a".repeat(40));
        std::fs::write(&path, "ghostlink-dev-salt\n").expect("write");
        let refused = click_salt(&dir).err().map(|f| f.code);
        assert_eq!(refused, Some(2));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "ghostlink-dev-salt\n", "left as it was");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
