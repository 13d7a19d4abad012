//! What the processes and the machine report in /proc: CPU, context switches, bytes written,
//! resident memory, open descriptors, load average, the machine itself.

use serde::Serialize;

/// Linux reports CPU time in USER_HZ ticks, 100 per second on every architecture hfx runs on.
pub(crate) const TICK_US: u64 = 10_000;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    pub(crate) cpu_ticks: u64,
    pub(crate) ctx_switches: u64,
    pub(crate) wchar: u64,
    pub(crate) write_bytes: u64,
}

pub(crate) fn usage(pid: u32) -> Usage {
    let mut u = Usage::default();
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        && let Some((_, rest)) = stat.rsplit_once(')')
    {
        // After the command: state is field 3; utime and stime are fields 14 and 15.
        let f: Vec<&str> = rest.split_whitespace().collect();
        let get = |i: usize| {
            f.get(i - 3)
                .and_then(|x| x.parse::<u64>().ok())
                .unwrap_or(0)
        };
        u.cpu_ticks = get(14) + get(15);
    }
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let st = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            for l in st.lines() {
                if let Some(v) = l
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    u.ctx_switches += v.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
    }
    if let Ok(io) = std::fs::read_to_string(format!("/proc/{pid}/io")) {
        for l in io.lines() {
            if let Some(v) = l.strip_prefix("wchar:") {
                u.wchar = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = l.strip_prefix("write_bytes:") {
                u.write_bytes = v.trim().parse().unwrap_or(0);
            }
        }
    }
    u
}

impl Usage {
    pub(crate) fn since(self, before: Usage) -> Usage {
        Usage {
            cpu_ticks: self.cpu_ticks.saturating_sub(before.cpu_ticks),
            ctx_switches: self.ctx_switches.saturating_sub(before.ctx_switches),
            wchar: self.wchar.saturating_sub(before.wchar),
            write_bytes: self.write_bytes.saturating_sub(before.write_bytes),
        }
    }
}

/// The usage of every process named `comm` (e.g. the PostgreSQL server's), by pid.
pub(crate) fn usage_of_named(comm: &str) -> std::collections::BTreeMap<u32, Usage> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == comm) {
            out.insert(pid, usage(pid));
        }
    }
    out
}

/// What the processes of `after` used since `before` (a process new since then counts from
/// zero; one that ended in between is missing).
pub(crate) fn usage_sum_since(
    after: &std::collections::BTreeMap<u32, Usage>,
    before: &std::collections::BTreeMap<u32, Usage>,
) -> Usage {
    after.iter().fold(Usage::default(), |acc, (pid, u)| {
        let d = u.since(before.get(pid).copied().unwrap_or_default());
        Usage {
            cpu_ticks: acc.cpu_ticks + d.cpu_ticks,
            ctx_switches: acc.ctx_switches + d.ctx_switches,
            wchar: acc.wchar + d.wchar,
            write_bytes: acc.write_bytes + d.write_bytes,
        }
    })
}

pub(crate) fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

pub(crate) fn open_fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// The 1, 5 and 15 minute load averages.
pub(crate) fn loadavg() -> Option<Vec<f64>> {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| {
        let v: Vec<f64> = s
            .split_whitespace()
            .take(3)
            .filter_map(|x| x.parse().ok())
            .collect();
        (v.len() == 3).then_some(v)
    })
}

/// The machine the figures were measured on.
pub(crate) fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string());
    let logical = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let flags = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("flags"))
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: Option<u64> = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
    Machine {
        cpu_model,
        cores: std::thread::available_parallelism()
            .map(|x| x.get())
            .unwrap_or(0),
        logical_cpus: logical,
        sha_extensions: flags.split_whitespace().any(|f| f == "sha_ni"),
        memory_mb: mem_kb.map(|k| k / 1024),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_string()),
        load_average_start: loadavg(),
    }
}

/// The machine the figures were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu_model: Option<String>,
    pub cores: usize,
    pub logical_cpus: usize,
    pub sha_extensions: bool,
    pub memory_mb: Option<u64>,
    pub kernel: Option<String>,
    pub load_average_start: Option<Vec<f64>>,
}
