//! Subnets and address allocation (IPv4).
//!
//! A [`Pool`] hands out the addresses of one network's subnet (or of its `--ip-range`), never
//! the same one twice, and walks forward from the last address it gave out before reusing a
//! released one (as Docker's allocator does, so a restarted peer rarely gets a stale address
//! that someone still caches). [`pick_subnet`] chooses a free subnet for a network created
//! without one, from address pools like dockerd's defaults.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// Allocation errors, with dockerd's wording where it has one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("invalid CIDR address: {0}")]
    BadCidr(String),
    #[error("invalid subnet {given}: it should be {network}")]
    NotNetworkAddress { given: String, network: Subnet },
    #[error("no available IPv4 addresses on this network's address pools: {0}")]
    Exhausted(Subnet),
    #[error("Address already in use")]
    InUse(Ipv4Addr),
    #[error("no configured subnet or ip-range contain the IP address {0}")]
    OutOfRange(Ipv4Addr),
    #[error(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )]
    NoFreeSubnet,
}

/// An IPv4 network: its first address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// The subnet holding `ip` with this prefix length (host bits cleared).
    pub fn containing(ip: Ipv4Addr, prefix: u8) -> Subnet {
        let prefix = prefix.min(32);
        Subnet {
            addr: Ipv4Addr::from(u32::from(ip) & mask(prefix)),
            prefix,
        }
    }

    /// Parses `a.b.c.d/n`, refusing host bits (`10.5.0.1/16`), as dockerd does.
    pub fn parse_strict(s: &str) -> Result<Subnet, Error> {
        let (ip, prefix) = parse_cidr(s)?;
        let net = Subnet::containing(ip, prefix);
        if net.addr != ip {
            return Err(Error::NotNetworkAddress {
                given: s.to_string(),
                network: net,
            });
        }
        Ok(net)
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn first(&self) -> u32 {
        u32::from(self.addr)
    }

    fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    /// The broadcast address (the last one).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.last())
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.first()
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// Whether `other` lies wholly inside this subnet.
    pub fn covers(&self, other: &Subnet) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// The first usable host address (the usual gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        if self.prefix >= 31 {
            self.addr
        } else {
            Ipv4Addr::from(self.first() + 1)
        }
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = Error;

    /// Lenient: `10.5.0.1/16` is the subnet `10.5.0.0/16`.
    fn from_str(s: &str) -> Result<Subnet, Error> {
        let (ip, prefix) = parse_cidr(s)?;
        Ok(Subnet::containing(ip, prefix))
    }
}

impl serde::Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), Error> {
    let bad = || Error::BadCidr(s.to_string());
    let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    if prefix > 32 {
        return Err(bad());
    }
    Ok((ip, prefix))
}

/// One network's addresses: which are taken and where the next search starts.
#[derive(Debug, Clone)]
pub struct Pool {
    subnet: Subnet,
    range: Subnet,
    taken: BTreeSet<u32>,
    next: u32,
}

impl Pool {
    /// A pool over `subnet`, handing out addresses of `range` (the whole subnet when None).
    /// The network and broadcast addresses and the `gateway` are never handed out.
    pub fn new(subnet: Subnet, range: Option<Subnet>, gateway: Option<Ipv4Addr>) -> Pool {
        let range = range.unwrap_or(subnet);
        let mut pool = Pool {
            subnet,
            range,
            taken: BTreeSet::new(),
            next: range.first(),
        };
        if let Some(gw) = gateway {
            pool.taken.insert(u32::from(gw));
        }
        pool
    }

    pub fn subnet(&self) -> Subnet {
        self.subnet
    }

    fn usable(&self, ip: u32) -> bool {
        if self.subnet.prefix >= 31 {
            return true;
        }
        ip != self.subnet.first() && ip != self.subnet.last()
    }

    /// Takes `wanted`, or the next free address of the range.
    pub fn allocate(&mut self, wanted: Option<Ipv4Addr>) -> Result<Ipv4Addr, Error> {
        if let Some(ip) = wanted {
            let n = u32::from(ip);
            if !self.subnet.contains(ip) || !self.usable(n) {
                return Err(Error::OutOfRange(ip));
            }
            if !self.taken.insert(n) {
                return Err(Error::InUse(ip));
            }
            return Ok(ip);
        }
        let (first, last) = (self.range.first(), self.range.last());
        let start = self.next.clamp(first, last);
        let candidates = (start..=last).chain(first..start);
        for n in candidates {
            if self.usable(n) && !self.taken.contains(&n) {
                self.taken.insert(n);
                self.next = if n == last { first } else { n + 1 };
                return Ok(Ipv4Addr::from(n));
            }
        }
        Err(Error::Exhausted(self.range))
    }

    /// Marks an address taken again (a running container found after a daemon restart).
    pub fn reserve(&mut self, ip: Ipv4Addr) -> Result<(), Error> {
        self.allocate(Some(ip)).map(|_| ())
    }

    /// Gives an address back; releasing one that was not taken is harmless.
    pub fn release(&mut self, ip: Ipv4Addr) {
        self.taken.remove(&u32::from(ip));
    }

    pub fn is_taken(&self, ip: Ipv4Addr) -> bool {
        self.taken.contains(&u32::from(ip))
    }
}

/// Where subnets for networks created without one come from: `base` split into `/size`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPool {
    pub base: Subnet,
    pub size: u8,
}

impl AddressPool {
    /// dockerd's defaults: 172.17–31.0.0/16, then 192.168.0.0/16 cut into /20s.
    pub fn defaults() -> Vec<AddressPool> {
        let mut pools: Vec<AddressPool> = (17..=31)
            .map(|b| AddressPool {
                base: Subnet::containing(Ipv4Addr::new(172, b, 0, 0), 16),
                size: 16,
            })
            .collect();
        pools.push(AddressPool {
            base: Subnet::containing(Ipv4Addr::new(192, 168, 0, 0), 16),
            size: 20,
        });
        pools
    }

    /// Parses dockerd's `--default-address-pool base=10.10.0.0/16,size=24`.
    pub fn parse(s: &str) -> Result<AddressPool, String> {
        let mut base = None;
        let mut size = None;
        for part in s.split(',') {
            match part.split_once('=') {
                Some(("base", v)) => {
                    base = Some(Subnet::parse_strict(v).map_err(|e| e.to_string())?)
                }
                Some(("size", v)) => {
                    size = Some(v.parse::<u8>().map_err(|_| format!("invalid size: {v}"))?)
                }
                _ => return Err(format!("invalid address pool field: {part}")),
            }
        }
        let base = base.ok_or("address pool needs base=")?;
        let size = size.ok_or("address pool needs size=")?;
        if size < base.prefix || size > 30 {
            return Err(format!("invalid address pool size {size} for base {base}"));
        }
        Ok(AddressPool { base, size })
    }

    fn subnets(&self) -> impl Iterator<Item = Subnet> + '_ {
        let step = 1u64 << (32 - u32::from(self.size));
        let count = 1u64 << (u32::from(self.size) - u32::from(self.base.prefix));
        (0..count).map(move |i| {
            let addr = u64::from(self.base.first()) + i * step;
            Subnet::containing(Ipv4Addr::from(addr as u32), self.size)
        })
    }
}

/// The first subnet of `pools` that overlaps nothing in `in_use` (other networks' subnets and
/// the host's routes).
pub fn pick_subnet(pools: &[AddressPool], in_use: &[Subnet]) -> Result<Subnet, Error> {
    pools
        .iter()
        .flat_map(|p| p.subnets())
        .find(|s| !in_use.iter().any(|u| u.overlaps(s)))
        .ok_or(Error::NoFreeSubnet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Subnet {
        s.parse().expect("valid subnet")
    }

    #[test]
    fn subnets_parse_and_compare() {
        assert_eq!(net("10.5.0.0/16").to_string(), "10.5.0.0/16");
        assert_eq!(net("10.5.3.7/16").to_string(), "10.5.0.0/16");
        assert_eq!(
            Subnet::parse_strict("10.5.0.1/16")
                .expect_err("host bits")
                .to_string(),
            "invalid subnet 10.5.0.1/16: it should be 10.5.0.0/16"
        );
        assert!(matches!(
            Subnet::parse_strict("10.5.0.0"),
            Err(Error::BadCidr(_))
        ));
        assert!("10.5.0.0/33".parse::<Subnet>().is_err());
        assert!("300.1.1.1/8".parse::<Subnet>().is_err());
        assert!(net("10.0.0.0/8").overlaps(&net("10.5.0.0/16")));
        assert!(net("10.5.0.0/16").overlaps(&net("10.0.0.0/8")));
        assert!(!net("10.5.0.0/16").overlaps(&net("10.6.0.0/16")));
        assert!(net("10.5.0.0/16").covers(&net("10.5.1.0/24")));
        assert!(!net("10.5.1.0/24").covers(&net("10.5.0.0/16")));
        assert_eq!(
            net("10.5.0.0/16").broadcast(),
            Ipv4Addr::new(10, 5, 255, 255)
        );
        assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert!(net("0.0.0.0/0").contains(Ipv4Addr::new(8, 8, 8, 8)));
    }

    #[test]
    fn pools_hand_out_each_address_once_and_skip_reserved_ones() {
        let mut p = Pool::new(net("10.9.0.0/29"), None, Some(Ipv4Addr::new(10, 9, 0, 1)));
        let got: Vec<Ipv4Addr> = (0..5).map(|_| p.allocate(None).expect("free")).collect();
        assert_eq!(
            got,
            (2..=6)
                .map(|d| Ipv4Addr::new(10, 9, 0, d))
                .collect::<Vec<_>>()
        );
        assert_eq!(p.allocate(None), Err(Error::Exhausted(net("10.9.0.0/29"))));
        p.release(Ipv4Addr::new(10, 9, 0, 4));
        assert_eq!(p.allocate(None), Ok(Ipv4Addr::new(10, 9, 0, 4)));
    }

    #[test]
    fn pools_walk_forward_before_reusing() {
        let mut p = Pool::new(net("10.9.0.0/24"), None, Some(Ipv4Addr::new(10, 9, 0, 1)));
        let a = p.allocate(None).expect("free");
        p.release(a);
        let b = p.allocate(None).expect("free");
        assert_ne!(
            a, b,
            "a released address is not the very next one handed out"
        );
    }

    #[test]
    fn static_addresses_are_checked() {
        let mut p = Pool::new(
            net("10.9.0.0/16"),
            Some(net("10.9.1.0/24")),
            Some(Ipv4Addr::new(10, 9, 0, 1)),
        );
        // A static address may lie outside the ip-range but inside the subnet.
        assert_eq!(
            p.allocate(Some(Ipv4Addr::new(10, 9, 7, 7))),
            Ok(Ipv4Addr::new(10, 9, 7, 7))
        );
        assert_eq!(
            p.allocate(Some(Ipv4Addr::new(10, 9, 7, 7))),
            Err(Error::InUse(Ipv4Addr::new(10, 9, 7, 7)))
        );
        assert_eq!(
            p.allocate(Some(Ipv4Addr::new(10, 8, 0, 2))),
            Err(Error::OutOfRange(Ipv4Addr::new(10, 8, 0, 2)))
        );
        assert_eq!(
            p.allocate(Some(Ipv4Addr::new(10, 9, 0, 1))),
            Err(Error::InUse(Ipv4Addr::new(10, 9, 0, 1))),
            "the gateway"
        );
        assert_eq!(
            p.allocate(Some(Ipv4Addr::new(10, 9, 255, 255))),
            Err(Error::OutOfRange(Ipv4Addr::new(10, 9, 255, 255))),
            "broadcast"
        );
        // Dynamic ones come from the range.
        assert_eq!(p.allocate(None), Ok(Ipv4Addr::new(10, 9, 1, 0)));
        assert_eq!(p.allocate(None), Ok(Ipv4Addr::new(10, 9, 1, 1)));
        assert!(p.is_taken(Ipv4Addr::new(10, 9, 1, 1)));
    }

    #[test]
    fn subnets_are_picked_around_what_is_in_use() {
        let pools = AddressPool::defaults();
        assert_eq!(pick_subnet(&pools, &[]), Ok(net("172.17.0.0/16")));
        assert_eq!(
            pick_subnet(&pools, &[net("172.17.0.0/16"), net("172.18.5.0/24")]),
            Ok(net("172.19.0.0/16"))
        );
        let everything: Vec<Subnet> = (17..=31)
            .map(|b| Subnet::containing(Ipv4Addr::new(172, b, 0, 0), 16))
            .chain([net("192.168.0.0/20")])
            .collect();
        assert_eq!(pick_subnet(&pools, &everything), Ok(net("192.168.16.0/20")));
        assert_eq!(
            pick_subnet(&pools, &[net("0.0.0.0/0")]),
            Err(Error::NoFreeSubnet)
        );
        let custom = AddressPool::parse("base=10.10.0.0/16,size=24").expect("valid");
        assert_eq!(
            pick_subnet(&[custom], &[net("10.10.0.0/24")]),
            Ok(net("10.10.1.0/24"))
        );
        assert!(AddressPool::parse("base=10.10.0.0/16,size=8").is_err());
        assert!(AddressPool::parse("base=10.10.0.0/16").is_err());
    }
}
