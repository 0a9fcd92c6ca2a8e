//! Service cluster IPs from the service CIDR and node ports from 30000–32767, never handed
//! out twice.
//!
//! What is allocated is read from the Services themselves (the watch cache), so nothing extra
//! is stored and a restart loses nothing. Addresses handed out to writes still in flight are
//! held in `pending` until the write is visible in the cache.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use api::error::{ApiError, FieldError};
use bytes::Bytes;

use crate::object;
use crate::registry::Served;
use crate::rest::{Api, WriteOpts, store_error};
use rand::Rng;
use serde_json::{Value, json};

/// The default service CIDR (kube-apiserver's `--service-cluster-ip-range` of kubeadm).
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
/// The node port range.
pub const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// The allocators.
#[derive(Debug)]
pub struct Allocator {
    base: u32,
    size: u32,
    pending_ips: Mutex<HashSet<u32>>,
    pending_ports: Mutex<HashSet<u16>>,
}

/// What one allocation holds until its write is visible.
#[derive(Debug, Default)]
pub struct Held {
    ips: Vec<u32>,
    ports: Vec<u16>,
}

impl Held {
    /// The cluster IPs held.
    pub fn ips(&self) -> Vec<Ipv4Addr> {
        self.ips.iter().map(|a| Ipv4Addr::from(*a)).collect()
    }

    /// The node ports held.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }
}

/// The store key that claims a cluster IP across every server sharing the store.
pub fn ip_claim_key(ip: &Ipv4Addr) -> String {
    format!("/wharf/serviceips/{ip}")
}

/// The store key that claims a node port.
pub fn port_claim_key(port: u16) -> String {
    format!("/wharf/servicenodeports/{port}")
}

/// The claim keys of every address a Service uses.
pub fn claim_keys(svc: &Value) -> Vec<String> {
    let ips = cluster_ips(svc)
        .into_iter()
        .filter_map(|ip| ip.parse::<Ipv4Addr>().ok())
        .map(|ip| ip_claim_key(&ip));
    let ports = node_ports(svc).into_iter().map(port_claim_key);
    let mut keys: Vec<String> = ips.chain(ports).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Whether `svc` (a live Service) still uses the cluster IP or node port a claim names.
pub fn still_uses(svc: &Value, claim_key: &str) -> bool {
    if let Some(ip) = claim_key.strip_prefix("/wharf/serviceips/") {
        return cluster_ips(svc).iter().any(|i| i == ip);
    }
    if let Some(p) = claim_key.strip_prefix("/wharf/servicenodeports/") {
        return p.parse::<u16>().is_ok_and(|p| node_ports(svc).contains(&p));
    }
    false
}

impl Allocator {
    /// Allocators over `cidr` (`a.b.c.d/n`).
    pub fn new(cidr: &str) -> Result<Allocator, String> {
        let (ip, bits) = cidr
            .split_once('/')
            .ok_or_else(|| format!("service CIDR {cidr:?} is not a.b.c.d/n"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|e| format!("service CIDR {cidr:?}: {e}"))?;
        let bits: u32 = bits
            .parse()
            .ok()
            .filter(|b| (8..=30).contains(b))
            .ok_or_else(|| format!("service CIDR {cidr:?}: prefix length must be 8 to 30"))?;
        let size = 1u32 << (32 - bits);
        Ok(Allocator {
            base: u32::from(ip) & !(size - 1),
            size,
            pending_ips: Mutex::new(HashSet::new()),
            pending_ports: Mutex::new(HashSet::new()),
        })
    }

    /// The first address of the range, which the `kubernetes` Service uses.
    pub fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    fn contains(&self, ip: u32) -> bool {
        ip > self.base && ip < self.base + self.size - 1
    }

    /// Fills in `spec.clusterIP(s)` and node ports of a new Service, given every existing
    /// Service. Errors name the field, as kube-apiserver's do.
    pub fn allocate(&self, svc: &mut Value, existing: &[Value]) -> Result<Held, Vec<FieldError>> {
        let mut used_ips = HashSet::new();
        let mut used_ports = HashSet::new();
        for s in existing {
            for ip in cluster_ips(s) {
                if let Ok(a) = ip.parse::<Ipv4Addr>() {
                    used_ips.insert(u32::from(a));
                }
            }
            for p in node_ports(s) {
                used_ports.insert(p);
            }
        }
        let mut held = Held::default();
        let spec = &mut svc["spec"];
        let ty = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
        let mut errors = Vec::new();
        if ty != "ExternalName" {
            let asked = spec["clusterIP"].as_str().unwrap_or("").to_string();
            if asked == "None" {
                spec["clusterIPs"] = json!(["None"]);
            } else {
                let mut pending = self.pending_ips.lock().unwrap_or_else(|e| e.into_inner());
                let ip = if asked.is_empty() {
                    let mut rng = rand::rng();
                    let free = self
                        .size
                        .saturating_sub(3 + used_ips.len() as u32 + pending.len() as u32);
                    if free == 0 {
                        errors.push(FieldError::new(
                            api::error::FieldErrorKind::Internal,
                            "spec.clusterIPs",
                            None,
                            "failed to allocate a serviceIP: range is full",
                        ));
                        None
                    } else {
                        loop {
                            // Skip the network, the first (kubernetes) and the broadcast address.
                            let a = self.base + 2 + rng.random_range(0..self.size - 3);
                            if !used_ips.contains(&a) && !pending.contains(&a) {
                                break Some(a);
                            }
                        }
                    }
                } else {
                    match asked.parse::<Ipv4Addr>().map(u32::from) {
                        Ok(a) if !self.contains(a) => {
                            errors.push(FieldError::invalid(
                                "spec.clusterIPs",
                                json!([asked]),
                                format!("failed to allocate IP {asked}: the provided IP ({asked}) is not in the valid range. The range of valid IPs is {}/{}", Ipv4Addr::from(self.base), 32 - self.size.trailing_zeros()),
                            ));
                            None
                        }
                        Ok(a) if used_ips.contains(&a) || pending.contains(&a) => {
                            errors.push(FieldError::invalid(
                                "spec.clusterIPs",
                                json!([asked]),
                                format!("failed to allocate IP {asked}: provided IP is already allocated"),
                            ));
                            None
                        }
                        Ok(a) => Some(a),
                        Err(_) => {
                            errors.push(FieldError::invalid(
                                "spec.clusterIPs",
                                json!([asked]),
                                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                            ));
                            None
                        }
                    }
                };
                if let Some(a) = ip {
                    pending.insert(a);
                    held.ips.push(a);
                    let s = Ipv4Addr::from(a).to_string();
                    spec["clusterIP"] = json!(s);
                    spec["clusterIPs"] = json!([s]);
                }
            }
        }
        if ty == "NodePort" || ty == "LoadBalancer" {
            let mut pending = self.pending_ports.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for (i, p) in ports.iter_mut().enumerate() {
                    match p.get("nodePort").and_then(Value::as_u64) {
                        Some(n) => {
                            let n = n as u16;
                            if used_ports.contains(&n) || pending.contains(&n) {
                                errors.push(FieldError::invalid(
                                    format!("spec.ports[{i}].nodePort"),
                                    json!(n),
                                    "provided port is already allocated",
                                ));
                            } else {
                                pending.insert(n);
                                held.ports.push(n);
                            }
                        }
                        None => {
                            let mut rng = rand::rng();
                            let span = (NODE_PORTS.end() - NODE_PORTS.start()) as usize + 1;
                            if used_ports.len() + pending.len() >= span {
                                errors.push(FieldError::new(
                                    api::error::FieldErrorKind::Internal,
                                    format!("spec.ports[{i}].nodePort"),
                                    None,
                                    "failed to allocate a nodePort: range is full",
                                ));
                                continue;
                            }
                            let n = loop {
                                let n = rng.random_range(NODE_PORTS);
                                if !used_ports.contains(&n) && !pending.contains(&n) {
                                    break n;
                                }
                            };
                            pending.insert(n);
                            held.ports.push(n);
                            p["nodePort"] = json!(n);
                        }
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(held)
        } else {
            self.release(held);
            Err(errors)
        }
    }

    /// Checks that an updated Service's new node ports are free (cluster IPs are immutable).
    pub fn allocate_update(
        &self,
        old: &Value,
        new: &mut Value,
        existing: &[Value],
    ) -> Result<Held, Vec<FieldError>> {
        let others: Vec<Value> = existing
            .iter()
            .filter(|s| s["metadata"]["uid"] != old["metadata"]["uid"])
            .cloned()
            .collect();
        // Keep the cluster IP; allocate only node ports that are new.
        let ip = old["spec"]["clusterIP"].clone();
        let ips = old["spec"]["clusterIPs"].clone();
        let mut probe = new.clone();
        probe["spec"]["clusterIP"] = json!("None");
        let held = self.allocate(&mut probe, &others)?;
        *new = probe;
        new["spec"]["clusterIP"] = ip;
        new["spec"]["clusterIPs"] = ips;
        Ok(held)
    }

    /// Gives back what `held` holds (after its write became visible, or failed).
    pub fn release(&self, held: Held) {
        let mut ips = self.pending_ips.lock().unwrap_or_else(|e| e.into_inner());
        for a in held.ips {
            ips.remove(&a);
        }
        drop(ips);
        let mut ports = self.pending_ports.lock().unwrap_or_else(|e| e.into_inner());
        for p in held.ports {
            ports.remove(&p);
        }
    }
}

/// Claims in the store: what keeps servers sharing one etcd from handing out one address
/// twice.
impl Api {
    /// Allocates a new Service's cluster IP and node ports from what this server's cache
    /// knows, then claims them in the store, so that servers sharing one etcd never hand out
    /// the same address: a claim that exists and whose Service still uses it sends the
    /// allocation round again (a chosen address) or fails (an address the user asked for).
    pub(crate) async fn allocate_service(
        &self,
        s: &Served,
        ns: Option<&str>,
        name: &str,
        obj: &mut Value,
        opts: &WriteOpts,
    ) -> Result<Held, ApiError> {
        let r = &s.resource;
        let mut existing = self.services();
        let asked = obj.clone();
        for _round in 0..16 {
            let mut candidate = asked.clone();
            let held = self
                .alloc
                .allocate(&mut candidate, &existing)
                .map_err(|e| ApiError::invalid(&r.group, &r.kind, name, &e))?;
            if opts.dry_run {
                *obj = candidate;
                return Ok(held);
            }
            let claim = Bytes::from(
                json!({"service": r.key(ns, name), "uid": object::uid(&candidate)}).to_string(),
            );
            let keys: Vec<String> = held
                .ips()
                .iter()
                .map(ip_claim_key)
                .chain(held.ports().iter().map(|p| port_claim_key(*p)))
                .collect();
            let mut taken = None;
            let mut claimed = Vec::new();
            for k in &keys {
                match self.claim(k, claim.clone()).await {
                    Ok(true) => claimed.push(k.clone()),
                    Ok(false) => {
                        taken = Some(k.clone());
                        break;
                    }
                    Err(e) => {
                        self.unclaim(&claimed).await;
                        self.alloc.release(held);
                        return Err(e);
                    }
                }
            }
            let Some(taken) = taken else {
                *obj = candidate;
                return Ok(held);
            };
            self.unclaim(&claimed).await;
            self.alloc.release(held);
            // Taken through another server: a chosen value is chosen again; a value the
            // user asked for is already allocated.
            let stand_in = match taken.rsplit('/').next() {
                Some(v) if taken.starts_with("/wharf/serviceips/") => {
                    json!({"spec": {"clusterIP": v}})
                }
                Some(v) => {
                    json!({"spec": {"ports": [{"nodePort": v.parse::<u16>().unwrap_or(0)}]}})
                }
                None => json!({}),
            };
            existing.push(stand_in);
        }
        Err(ApiError::internal(format!(
            "allocating addresses for Service {name}: every candidate was taken"
        )))
    }

    /// Claims `key` for a Service: `true` when claimed (new, or taken over from a Service
    /// that no longer uses it), `false` when a live Service holds it.
    async fn claim(&self, key: &str, value: Bytes) -> Result<bool, ApiError> {
        for _ in 0..8 {
            match self.store.create(key, value.clone()).await {
                Ok(_) => return Ok(true),
                Err(store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(store_error(e)),
            }
            let Some(kv) = self.store.get(key).await.map_err(store_error)? else {
                continue;
            };
            let holder: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
            let live = match holder["service"].as_str() {
                Some(svc_key) => match self.store.get(svc_key).await.map_err(store_error)? {
                    Some(svc) => serde_json::from_slice::<Value>(&svc.value).is_ok_and(|svc| {
                        object::uid(&svc) == holder["uid"].as_str().unwrap_or("")
                            && still_uses(&svc, key)
                    }),
                    None => false,
                },
                None => false,
            };
            if live {
                return Ok(false);
            }
            match self.store.update(key, value.clone(), kv.mod_revision).await {
                Ok(_) => return Ok(true),
                Err(store::Error::Conflict { .. }) | Err(store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(store_error(e)),
            }
        }
        Ok(false)
    }

    /// Drops the address claims of a deleted Service.
    pub(crate) async fn release_claims(&self, s: &Served, svc: &Value) {
        if !(s.resource.group.is_empty() && s.resource.kind == "Service") {
            return;
        }
        let keys = claim_keys(svc);
        for k in keys {
            if let Ok(Some(kv)) = self.store.get(&k).await
                && serde_json::from_slice::<Value>(&kv.value)
                    .is_ok_and(|h| h["uid"].as_str() == Some(object::uid(svc)))
            {
                let _ = self.store.delete(&k, Some(kv.mod_revision)).await;
            }
        }
    }

    /// Drops claims (best effort: a claim left behind is taken over once its Service is gone).
    async fn unclaim(&self, keys: &[String]) {
        for k in keys {
            let _ = self.store.delete(k, None).await;
        }
    }
}

fn cluster_ips(s: &Value) -> Vec<String> {
    let mut v = api::value::strings(s["spec"].get("clusterIPs"));
    if let Some(ip) = s["spec"]["clusterIP"].as_str() {
        v.push(ip.to_string());
    }
    v
}

fn node_ports(s: &Value) -> Vec<u16> {
    s["spec"]["ports"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
                .map(|n| n as u16)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_twice_and_clear_errors() {
        let a = Allocator::new("10.96.0.0/28").expect("cidr");
        let mut existing = Vec::new();
        for _ in 0..13 {
            let mut svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
            let held = a
                .allocate(&mut svc, &existing)
                .expect("free addresses left");
            a.release(held);
            existing.push(svc);
        }
        let mut ips: Vec<&str> = existing
            .iter()
            .filter_map(|s| s["spec"]["clusterIP"].as_str())
            .collect();
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), 13, "13 distinct addresses from a /28 minus 3");
        let mut full = json!({"spec": {"ports": [{"port": 80}]}});
        assert!(a.allocate(&mut full, &existing).is_err());
        let taken = existing[0]["spec"]["clusterIP"]
            .as_str()
            .expect("ip")
            .to_string();
        let port = existing[0]["spec"]["ports"][0]["nodePort"]
            .as_u64()
            .expect("port");
        let b = Allocator::new("10.96.0.0/12").expect("cidr");
        let mut dup = json!({"spec": {"clusterIP": taken, "type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}});
        let errs = b.allocate(&mut dup, &existing).expect_err("both taken");
        assert!(
            errs[0]
                .to_string()
                .contains("provided IP is already allocated"),
            "{errs:?}"
        );
        assert_eq!(errs[1].field, "spec.ports[0].nodePort");
    }
}
