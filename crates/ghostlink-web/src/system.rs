//! `GET /system` on the ops listener: the host's CPU, load and memory, the disks holding the
//! service's data and spool directories, and this process's RSS, threads, open descriptors and
//! uptime, as JSON — what on-call used to SSH in for, answered by the service itself (read from
//! `/proc` through `sysinfo`).
//!
//! CPU use is a rate: it is measured between two reads. The probe keeps one `sysinfo::System`
//! and reads it at bind time, so every answer gives the use since the previous answer (or since
//! the listener started). A part that cannot be read (a platform without `/proc`, a directory on
//! no listed disk) is `null`, never an error: the rest is still worth having.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use sysinfo::{DiskRefreshKind, Disks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// A directory whose disk `/system` reports, by role (`data`, `spool`).
#[derive(Debug, Clone)]
pub struct WatchedDir {
    pub role: &'static str,
    pub path: PathBuf,
}

impl WatchedDir {
    pub fn new(role: &'static str, path: impl Into<PathBuf>) -> Self {
        Self { role, path: path.into() }
    }
}

/// The whole answer of `GET /system`.
#[derive(Debug, Serialize)]
pub struct SystemReport {
    pub service: &'static str,
    pub host: HostReport,
    pub disks: Vec<DiskReport>,
    pub process: Option<ProcessReport>,
}

#[derive(Debug, Serialize)]
pub struct HostReport {
    pub cpus: usize,
    /// Busy share of all CPUs since the previous `/system`, 0-100.
    pub cpu_usage_percent: f32,
    pub load_average: Option<[f64; 3]>,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    pub memory_used_percent: f64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
    pub uptime_seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct DiskReport {
    pub role: &'static str,
    pub path: String,
    /// The mount point of the disk holding `path` (its nearest existing ancestor if it does not
    /// exist yet); `null` with the sizes when no listed disk holds it.
    pub mount_point: Option<String>,
    pub total_bytes: Option<u64>,
    pub available_bytes: Option<u64>,
    pub used_percent: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ProcessReport {
    pub pid: u32,
    pub rss_bytes: u64,
    pub threads: Option<usize>,
    pub open_fds: Option<usize>,
    pub open_fds_limit: Option<usize>,
    /// Share of one CPU since the previous `/system` (can exceed 100 on several cores).
    pub cpu_usage_percent: f32,
    pub uptime_seconds: u64,
}

/// What `/system` reads from; one per ops listener.
pub struct SystemProbe {
    service: &'static str,
    dirs: Vec<WatchedDir>,
    started: Instant,
    state: Mutex<Option<(System, Pid)>>,
}

impl SystemProbe {
    /// Reads the CPU counters once now, so the first answer has a rate to give.
    pub fn new(service: &'static str, dirs: Vec<WatchedDir>) -> Self {
        let state = System::new().ok().zip(sysinfo::get_current_pid().ok()).map(|(mut sys, pid)| {
            sys.refresh_cpu_usage();
            refresh_process(&mut sys, pid);
            (sys, pid)
        });
        Self { service, dirs, started: Instant::now(), state: Mutex::new(state) }
    }

    /// Reads `/proc` (blocking: call it off the async workers).
    pub fn report(&self) -> SystemReport {
        let mut guard = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (host, process) = match guard.as_mut() {
            Some((sys, pid)) => {
                sys.refresh_cpu_usage();
                sys.refresh_memory();
                refresh_process(sys, *pid);
                let process = sys.process(*pid).map(|p| ProcessReport {
                    pid: pid.as_u32(),
                    rss_bytes: p.memory(),
                    threads: p.tasks().map(|t| t.len()),
                    open_fds: p.open_files(),
                    open_fds_limit: p.open_files_limit(),
                    cpu_usage_percent: p.cpu_usage(),
                    uptime_seconds: self.started.elapsed().as_secs().max(p.run_time()),
                });
                (host_report(sys), process)
            }
            None => (empty_host(), None),
        };
        drop(guard);
        SystemReport { service: self.service, host, disks: disk_reports(&self.dirs), process }
    }
}

impl SystemProbe {
    /// Sets `dir_disk_size_bytes{dir}` and `dir_disk_available_bytes{dir}` for each watched
    /// directory: what the disk alerts read (the spool's above all), sampled at each scrape.
    pub fn sample_disks(&self) {
        for d in disk_reports(&self.dirs) {
            if let (Some(total), Some(available)) = (d.total_bytes, d.available_bytes) {
                metrics::gauge!("dir_disk_size_bytes", "dir" => d.role).set(total as f64);
                metrics::gauge!("dir_disk_available_bytes", "dir" => d.role).set(available as f64);
            }
        }
    }
}

fn refresh_process(sys: &mut System, pid: Pid) {
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing().with_cpu().with_memory().with_tasks(),
    );
}

fn host_report(sys: &System) -> HostReport {
    let total = sys.total_memory();
    let available = sys.available_memory();
    HostReport {
        cpus: sys.cpus().len(),
        cpu_usage_percent: sys.global_cpu_usage(),
        load_average: System::load_average().ok().map(|l| [l.one, l.five, l.fifteen]),
        memory_total_bytes: total,
        memory_available_bytes: available,
        memory_used_percent: percent(total.saturating_sub(available), total),
        swap_total_bytes: sys.total_swap(),
        swap_used_bytes: sys.used_swap(),
        uptime_seconds: System::uptime().ok(),
    }
}

fn empty_host() -> HostReport {
    HostReport {
        cpus: 0,
        cpu_usage_percent: 0.0,
        load_average: None,
        memory_total_bytes: 0,
        memory_available_bytes: 0,
        memory_used_percent: 0.0,
        swap_total_bytes: 0,
        swap_used_bytes: 0,
        uptime_seconds: None,
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 10_000.0 / whole as f64).round() / 100.0
    }
}

fn disk_reports(dirs: &[WatchedDir]) -> Vec<DiskReport> {
    let disks = Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing().with_storage()).ok();
    dirs.iter()
        .map(|d| {
            let holder = disks.as_ref().and_then(|disks| {
                let at = existing_ancestor(&d.path)?;
                disks
                    .iter()
                    .filter(|disk| at.starts_with(disk.mount_point()))
                    .max_by_key(|disk| disk.mount_point().as_os_str().len())
            });
            DiskReport {
                role: d.role,
                path: d.path.display().to_string(),
                mount_point: holder.map(|h| h.mount_point().display().to_string()),
                total_bytes: holder.map(|h| h.total_space()),
                available_bytes: holder.map(|h| h.available_space()),
                used_percent: holder
                    .map(|h| percent(h.total_space().saturating_sub(h.available_space()), h.total_space())),
            }
        })
        .collect()
}

/// `path` made absolute, or its nearest ancestor that exists (a spool directory is created on
/// first use), so it can be matched against mount points.
fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    absolute.ancestors().find_map(|p| p.canonicalize().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_not_yet_created_is_measured_on_the_disk_that_will_hold_it() {
        let missing = std::env::temp_dir().join("gl-system-test-not-created").join("spool");
        let report = SystemProbe::new("test", vec![WatchedDir::new("spool", &missing)]).report();
        let disk = &report.disks[0];
        assert_eq!((disk.role, disk.path.as_str()), ("spool", missing.to_str().unwrap_or_default()));
        assert!(disk.mount_point.is_some(), "{disk:?}");
        let (total, available) = (disk.total_bytes.unwrap_or(0), disk.available_bytes.unwrap_or(u64::MAX));
        assert!(total > 0 && available <= total, "{disk:?}");
    }

    #[test]
    fn percentages_are_rounded_and_a_zero_whole_is_zero() {
        assert_eq!(percent(1, 3), 33.33);
        assert_eq!(percent(5, 0), 0.0);
    }
}
