//! Prometheus metrics: request counts and latencies per verb, resource and code, stored
//! objects per resource, and the process's memory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::rest::Api;

/// (verb, resource, code) → (count, seconds).
type Counters = BTreeMap<(String, String, u16), (u64, f64)>;

/// Request counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<Counters>,
}

impl Metrics {
    /// Counts one request.
    pub fn observe(&self, verb: &str, resource: &str, code: u16, took: Duration) {
        let mut m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let e = m
            .entry((verb.to_string(), resource.to_string(), code))
            .or_default();
        e.0 += 1;
        e.1 += took.as_secs_f64();
    }

    /// The text exposition format.
    pub fn render(&self, api: &Api) -> String {
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, resource and HTTP response code.\n# TYPE apiserver_request_total counter\n");
        let m = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for ((verb, res, code), (n, _)) in &m {
            let _ = writeln!(
                out,
                "apiserver_request_total{{code=\"{code}\",resource=\"{res}\",verb=\"{}\"}} {n}",
                verb.to_uppercase()
            );
        }
        out.push_str("# HELP apiserver_request_duration_seconds_sum Total time spent serving requests.\n# TYPE apiserver_request_duration_seconds_sum counter\n");
        for ((verb, res, code), (_, secs)) in &m {
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_sum{{code=\"{code}\",resource=\"{res}\",verb=\"{}\"}} {secs}",
                verb.to_uppercase()
            );
        }
        out.push_str("# HELP apiserver_storage_objects Number of stored objects at the time of last check split by kind.\n# TYPE apiserver_storage_objects gauge\n");
        for s in api.registry.all() {
            let n = api.cache.count(&s.resource.key_prefix());
            let r = &s.resource;
            let name = if r.group.is_empty() {
                r.plural.clone()
            } else {
                format!("{}.{}", r.plural, r.group)
            };
            let _ = writeln!(out, "apiserver_storage_objects{{resource=\"{name}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP etcd_current_revision The store's revision seen by the watch cache.\n# TYPE etcd_current_revision gauge\netcd_current_revision {}",
            api.cache.revision()
        );
        if let Some(rss) = resident_bytes() {
            let _ = writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}"
            );
        }
        out
    }
}

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
