//! A small synchronous rtnetlink client: links (bridges, veth pairs), IPv4 addresses and
//! IPv4 routes, with no `ip` binary and no async runtime.
//!
//! One [`Netlink`] owns one `NETLINK_ROUTE` socket, bound to the network namespace it was
//! created in ([`Netlink::open`] for the calling thread's, [`Netlink::open_in`] for another).
//! Every change is sent with `NLM_F_ACK` and waits for the kernel's `NLMSG_ERROR` answer;
//! dumps are read until `NLMSG_DONE` (and retried if the kernel reports that the table
//! changed under them). The request and receive buffers are reused from call to call.
//!
//! Wire format (include/uapi/linux/netlink.h, rtnetlink.h): a `nlmsghdr`, a family header
//! (`ifinfomsg`, `ifaddrmsg` or `rtmsg`), then attributes (`rtattr`: length, type, payload
//! padded to 4 bytes), some of them nested (`IFLA_LINKINFO` → `IFLA_INFO_KIND` /
//! `IFLA_INFO_DATA` → `VETH_INFO_PEER`, which holds a whole `ifinfomsg` plus attributes).

use std::io;
use std::mem;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::netns::{self, NetNs};

/// Kernel ABI numbers (include/uapi/linux/{netlink,rtnetlink,if_link,if_addr,veth}.h).
mod abi {
    pub const NLMSG_HDRLEN: usize = 16;
    pub const NLMSG_NOOP: u16 = 1;
    pub const NLMSG_ERROR: u16 = 2;
    pub const NLMSG_DONE: u16 = 3;
    pub const NLMSG_OVERRUN: u16 = 4;

    pub const NLM_F_REQUEST: u16 = 0x1;
    pub const NLM_F_ACK: u16 = 0x4;
    pub const NLM_F_DUMP_INTR: u16 = 0x10;
    pub const NLM_F_DUMP: u16 = 0x300;
    pub const NLM_F_EXCL: u16 = 0x200;
    pub const NLM_F_CREATE: u16 = 0x400;
    /// On `NLMSG_ERROR`: the echoed request is only its header.
    pub const NLM_F_CAPPED: u16 = 0x100;
    /// On `NLMSG_ERROR` / `NLMSG_DONE`: extended-ack attributes follow.
    pub const NLM_F_ACK_TLVS: u16 = 0x200;
    pub const NLMSGERR_ATTR_MSG: u16 = 1;

    pub const SOL_NETLINK: libc::c_int = 270;
    pub const NETLINK_CAP_ACK: libc::c_int = 10;
    pub const NETLINK_EXT_ACK: libc::c_int = 11;

    pub const RTM_NEWLINK: u16 = 16;
    pub const RTM_DELLINK: u16 = 17;
    pub const RTM_GETLINK: u16 = 18;
    pub const RTM_SETLINK: u16 = 19;
    pub const RTM_NEWADDR: u16 = 20;
    pub const RTM_DELADDR: u16 = 21;
    pub const RTM_GETADDR: u16 = 22;
    pub const RTM_NEWROUTE: u16 = 24;
    pub const RTM_DELROUTE: u16 = 25;
    pub const RTM_GETROUTE: u16 = 26;

    pub const IFINFOMSG_LEN: usize = 16;
    pub const IFADDRMSG_LEN: usize = 8;
    pub const RTMSG_LEN: usize = 12;

    pub const IFLA_ADDRESS: u16 = 1;
    pub const IFLA_IFNAME: u16 = 3;
    pub const IFLA_MTU: u16 = 4;
    pub const IFLA_MASTER: u16 = 10;
    pub const IFLA_LINKINFO: u16 = 18;
    pub const IFLA_NET_NS_FD: u16 = 28;
    pub const IFLA_EXT_MASK: u16 = 29;
    pub const IFLA_INFO_KIND: u16 = 1;
    pub const IFLA_INFO_DATA: u16 = 2;
    pub const VETH_INFO_PEER: u16 = 1;
    /// `IFLA_EXT_MASK` bit: leave the (large) statistics out of link replies.
    pub const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
    pub const IFNAMSIZ: usize = 16;

    pub const IFA_ADDRESS: u16 = 1;
    pub const IFA_LOCAL: u16 = 2;
    pub const IFA_BROADCAST: u16 = 4;

    pub const RTA_DST: u16 = 1;
    pub const RTA_OIF: u16 = 4;
    pub const RTA_GATEWAY: u16 = 5;
    pub const RTA_PRIORITY: u16 = 6;
    pub const RTA_MULTIPATH: u16 = 9;
    pub const RTA_TABLE: u16 = 15;

    pub const RT_TABLE_MAIN: u8 = 254;
    pub const RTPROT_BOOT: u8 = 3;
    pub const RT_SCOPE_UNIVERSE: u8 = 0;
    pub const RT_SCOPE_LINK: u8 = 253;
    pub const RTN_UNICAST: u8 = 1;

    /// Attribute type bits that are flags (`NLA_F_NESTED`, `NLA_F_NET_BYTEORDER`).
    pub const NLA_TYPE_MASK: u16 = !(1 << 15 | 1 << 14);
}

use abi::*;

/// The main routing table's id.
pub const MAIN_TABLE: u32 = RT_TABLE_MAIN as u32;

/// Room for one datagram from the kernel. Dumps are sent in chunks of at most 32 KiB;
/// anything larger is reported rather than silently cut.
const RECV_BUFFER: usize = 64 * 1024;

/// How often a dump is restarted when the kernel flags it as interrupted by a change.
const DUMP_ATTEMPTS: usize = 5;

/// What went wrong talking to the kernel; every variant names the operation and its object,
/// e.g. `add address 10.1.0.1/24 to wt-br0: File exists (os error 17)`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refused the request.
    #[error("{op}: {source}{}", kernel_says(.message))]
    Kernel {
        /// The operation and its object.
        op: String,
        /// The errno the kernel answered with.
        source: io::Error,
        /// The kernel's extended-ack message, when it gave one.
        message: Option<String>,
    },
    /// The netlink socket itself failed (open, send, receive).
    #[error("{op}: rtnetlink socket: {source}")]
    Socket {
        /// The operation and its object.
        op: String,
        /// The system's error.
        source: io::Error,
    },
    /// The kernel's answer could not be understood.
    #[error("{op}: malformed rtnetlink reply: {what}")]
    Malformed {
        /// The operation and its object.
        op: String,
        /// What was wrong with it.
        what: &'static str,
    },
    /// An argument the kernel would refuse (or that cannot be encoded).
    #[error("{op}: {what}")]
    InvalidArgument {
        /// The operation and its object.
        op: String,
        /// Why it was refused.
        what: String,
    },
    /// The socket could not be opened inside a namespace.
    #[error("{op}: {source}")]
    Netns {
        /// The operation.
        op: String,
        /// Why entering the namespace failed.
        source: Box<netns::Error>,
    },
}

fn kernel_says(message: &Option<String>) -> String {
    match message {
        Some(m) => format!(" (kernel: {m})"),
        None => String::new(),
    }
}

impl Error {
    /// The errno behind this error, if the kernel or the system gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { source, .. } | Error::Socket { source, .. } => source.raw_os_error(),
            Error::Netns { source, .. } => source.errno(),
            Error::Malformed { .. } | Error::InvalidArgument { .. } => None,
        }
    }

    /// Whether the object already exists (`EEXIST`): a link name, an address, a route.
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }

    /// Whether the object does not exist: a link (`ENODEV`), an address (`EADDRNOTAVAIL`),
    /// a route (`ESRCH`) or a namespace file (`ENOENT`).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::ENODEV | libc::EADDRNOTAVAIL | libc::ESRCH | libc::ENOENT)
        )
    }
}

/// Why an exchange with the kernel failed, before the operation's name is attached.
#[derive(Debug)]
enum Fail {
    Kernel { errno: i32, message: Option<String> },
    Socket(io::Error),
    Malformed(&'static str),
    DumpInterrupted,
}

impl Fail {
    fn into_error(self, op: String) -> Error {
        match self {
            Fail::Kernel { errno, message } => Error::Kernel {
                op,
                source: io::Error::from_raw_os_error(errno),
                message,
            },
            Fail::Socket(source) => Error::Socket { op, source },
            Fail::Malformed(what) => Error::Malformed { op, what },
            Fail::DumpInterrupted => Error::Malformed {
                op,
                what: "dump kept being interrupted by concurrent changes",
            },
        }
    }

    fn errno(&self) -> Option<i32> {
        match self {
            Fail::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// A network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// `IFLA_INFO_KIND` (`"bridge"`, `"veth"`, …); `None` for physical devices and `lo`.
    pub kind: Option<String>,
    /// Index of the bridge (or bond) this link is enslaved to.
    pub master: Option<u32>,
    /// MTU.
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Hardware address, for Ethernet-like links.
    pub mac: Option<[u8; 6]>,
}

/// An IPv4 address on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr {
    /// Interface index.
    pub index: u32,
    /// The local address.
    pub ip: Ipv4Addr,
    /// Prefix length of the subnet.
    pub prefix: u8,
}

/// An IPv4 route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Destination network (`0.0.0.0` with prefix 0 for the default route).
    pub dst: Ipv4Addr,
    /// Destination prefix length.
    pub prefix: u8,
    /// Next hop, if the route goes through a gateway.
    pub gateway: Option<Ipv4Addr>,
    /// Outgoing interface index (of the first next hop, for a multipath route).
    pub oif: Option<u32>,
    /// Routing table id ([`MAIN_TABLE`] = 254, local = 255).
    pub table: u32,
}

/// A request being built: `nlmsghdr`, family header, attributes.
#[derive(Debug, Default)]
struct Request {
    buf: Vec<u8>,
}

impl Request {
    fn start(&mut self, ty: u16, flags: u16, seq: u32) {
        self.buf.clear();
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, set by finish()
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: 0 = to the kernel
    }

    fn ifinfomsg(&mut self, index: u32, flags: u32, change: u32) {
        self.buf.push(libc::AF_UNSPEC as u8);
        self.buf.push(0);
        self.buf.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
    }

    fn ifaddrmsg(&mut self, prefix: u8, index: u32) {
        self.buf
            .extend_from_slice(&[libc::AF_INET as u8, prefix, 0, RT_SCOPE_UNIVERSE]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
    }

    fn rtmsg(&mut self, dst_len: u8, table: u8, protocol: u8, scope: u8, ty: u8) {
        self.buf.extend_from_slice(&[
            libc::AF_INET as u8,
            dst_len,
            0, // src_len
            0, // tos
            table,
            protocol,
            scope,
            ty,
        ]);
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // rtm_flags
    }

    fn pad(&mut self) {
        self.buf.resize(align(self.buf.len()), 0);
    }

    fn attr(&mut self, ty: u16, data: &[u8]) {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn attr_u32(&mut self, ty: u16, value: u32) {
        self.attr(ty, &value.to_ne_bytes());
    }

    /// A NUL-terminated string attribute.
    fn attr_str(&mut self, ty: u16, value: &str) {
        let len = (4 + value.len() + 1) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    /// Opens a nested attribute; returns where its header is, for [`Request::end_nest`].
    fn nest(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        at
    }

    fn end_nest(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn finish(&mut self) -> &[u8] {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        &self.buf
    }
}

const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Iterator over the attributes in a buffer: `(type without flag bits, payload)`.
struct Attrs<'a>(&'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let data = self.0;
        if data.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let ty = u16::from_ne_bytes([data[2], data[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > data.len() {
            self.0 = &[];
            return None;
        }
        self.0 = &data[align(len).min(data.len())..];
        Some((ty, &data[4..len]))
    }
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn as_u32(data: &[u8]) -> Option<u32> {
    u32_at(data, 0)
}

fn as_ipv4(data: &[u8]) -> Option<Ipv4Addr> {
    let octets: [u8; 4] = data.get(..4)?.try_into().ok()?;
    Some(Ipv4Addr::from(octets))
}

fn as_string(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

fn parse_link(msg: &[u8]) -> Option<Link> {
    if msg.len() < IFINFOMSG_LEN {
        return None;
    }
    let index = u32_at(msg, 4)?;
    let flags = u32_at(msg, 8)?;
    let mut link = Link {
        index,
        name: String::new(),
        kind: None,
        master: None,
        mtu: 0,
        up: flags & libc::IFF_UP as u32 != 0,
        mac: None,
    };
    for (ty, data) in Attrs(&msg[IFINFOMSG_LEN..]) {
        match ty {
            IFLA_IFNAME => link.name = as_string(data),
            IFLA_MTU => link.mtu = as_u32(data).unwrap_or(0),
            IFLA_MASTER => link.master = as_u32(data).filter(|&m| m != 0),
            IFLA_ADDRESS => link.mac = data.try_into().ok(),
            IFLA_LINKINFO => {
                link.kind = Attrs(data)
                    .find(|&(ty, _)| ty == IFLA_INFO_KIND)
                    .map(|(_, kind)| as_string(kind));
            }
            _ => {}
        }
    }
    Some(link)
}

fn parse_addr(msg: &[u8]) -> Option<Addr> {
    if msg.len() < IFADDRMSG_LEN || msg[0] != libc::AF_INET as u8 {
        return None;
    }
    let prefix = msg[1];
    let index = u32_at(msg, 4)?;
    let (mut local, mut address) = (None, None);
    for (ty, data) in Attrs(&msg[IFADDRMSG_LEN..]) {
        match ty {
            IFA_LOCAL => local = as_ipv4(data),
            IFA_ADDRESS => address = as_ipv4(data),
            _ => {}
        }
    }
    // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is always ours.
    Some(Addr {
        index,
        ip: local.or(address)?,
        prefix,
    })
}

/// A route and its metric (`RTA_PRIORITY`, used to pick among default routes).
fn parse_route(msg: &[u8]) -> Option<(Route, u32)> {
    if msg.len() < RTMSG_LEN || msg[0] != libc::AF_INET as u8 {
        return None;
    }
    let mut route = Route {
        dst: Ipv4Addr::UNSPECIFIED,
        prefix: msg[1],
        gateway: None,
        oif: None,
        table: u32::from(msg[4]),
    };
    let mut metric = 0;
    for (ty, data) in Attrs(&msg[RTMSG_LEN..]) {
        match ty {
            RTA_DST => route.dst = as_ipv4(data).unwrap_or(Ipv4Addr::UNSPECIFIED),
            RTA_GATEWAY => route.gateway = as_ipv4(data),
            RTA_OIF => route.oif = as_u32(data),
            RTA_TABLE => route.table = as_u32(data).unwrap_or(route.table),
            RTA_PRIORITY => metric = as_u32(data).unwrap_or(0),
            // A multipath route has no RTA_OIF: report its first next hop's link
            // (`struct rtnexthop`: len u16, flags u8, hops u8, ifindex i32).
            RTA_MULTIPATH if route.oif.is_none() => {
                route.oif = u32_at(data, 4).filter(|&index| index != 0);
            }
            _ => {}
        }
    }
    Some((route, metric))
}

/// The kernel's extended-ack message in an `NLMSG_ERROR` (or `NLMSG_DONE`) payload whose
/// attributes start at `attrs_at`.
fn extack_message(flags: u16, payload: &[u8], attrs_at: usize) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    Attrs(payload.get(align(attrs_at)..)?)
        .find(|&(ty, _)| ty == NLMSGERR_ATTR_MSG)
        .map(|(_, msg)| as_string(msg))
        .filter(|m| !m.is_empty())
}

/// Checks a name the kernel would take as `IFLA_IFNAME`.
fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() >= IFNAMSIZ {
        return Err(format!(
            "interface name {name:?} must be 1 to {} bytes long",
            IFNAMSIZ - 1
        ));
    }
    if name
        .bytes()
        .any(|b| b == 0 || b == b'/' || b.is_ascii_whitespace() || b == b':')
        || name == "."
        || name == ".."
    {
        return Err(format!("invalid interface name {name:?}"));
    }
    Ok(())
}

fn format_mac(mac: [u8; 6]) -> String {
    let [a, b, c, d, e, f] = mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

/// A `NETLINK_ROUTE` socket in one network namespace, with reusable buffers.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
    request: Request,
    reply: Vec<u8>,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("fd", &self.fd)
            .field("seq", &self.seq)
            .finish()
    }
}

fn setsockopt_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) {
    // SAFETY: `value` lives across the call and its size is passed; the fd is open.
    // Failure only means an older kernel without the option, which is fine.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn kernel_address() -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain data; all-zero is valid (pid 0 = the kernel, no groups).
    let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink, Error> {
        let socket_error = |source| Error::Socket {
            op: "open".to_string(),
            source,
        };
        // SAFETY: socket(2) with constant arguments; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(socket_error(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Errors carry the kernel's explanation, and do not echo the whole request back.
        setsockopt_int(&fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
        setsockopt_int(&fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
        let local = kernel_address(); // nl_pid 0: the kernel assigns our port id
        // SAFETY: `local` is a valid sockaddr_nl and its size is passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&local as *const libc::sockaddr_nl).cast(),
                mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(socket_error(io::Error::last_os_error()));
        }
        Ok(Netlink {
            fd,
            seq: 0,
            request: Request::default(),
            reply: vec![0; RECV_BUFFER],
        })
    }

    /// Opens a socket inside `ns` (on a short-lived thread that entered it). The socket
    /// stays in `ns` and can be used from any thread.
    pub fn open_in(ns: &NetNs) -> Result<Netlink, Error> {
        match ns.run(Netlink::open) {
            Ok(opened) => opened,
            Err(e) => Err(Error::Netns {
                op: format!("open rtnetlink socket in {}", ns.path().display()),
                source: Box::new(e),
            }),
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&mut self) -> Result<(), Fail> {
        let kernel = kernel_address();
        let msg = self.request.finish();
        loop {
            // SAFETY: `msg` and `kernel` are valid for the given lengths during the call.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    msg.as_ptr().cast(),
                    msg.len(),
                    0,
                    (&kernel as *const libc::sockaddr_nl).cast(),
                    mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n >= 0 {
                return if n as usize == msg.len() {
                    Ok(())
                } else {
                    Err(Fail::Socket(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "short send of a netlink request",
                    )))
                };
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(Fail::Socket(err));
            }
        }
    }

    /// Receives one datagram from the kernel into `self.reply`; returns its length.
    fn recv(&mut self) -> Result<usize, Fail> {
        loop {
            let mut from = kernel_address();
            let mut from_len = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            // SAFETY: the buffer and address are valid for the lengths passed; MSG_TRUNC
            // makes the call return the datagram's real length.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    self.reply.as_mut_ptr().cast(),
                    self.reply.len(),
                    libc::MSG_TRUNC,
                    (&mut from as *mut libc::sockaddr_nl).cast(),
                    &mut from_len,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Fail::Socket(err));
            }
            let n = n as usize;
            if n > self.reply.len() {
                return Err(Fail::Malformed("reply larger than the receive buffer"));
            }
            if from.nl_pid != 0 {
                continue; // not from the kernel
            }
            return Ok(n);
        }
    }

    /// Sends the request in `self.request` and reads the answer: for a dump until
    /// `NLMSG_DONE`, otherwise until the `NLMSG_ERROR` acknowledgement. Every other message
    /// of this request goes to `on_message(type, payload)`.
    fn exchange(&mut self, dump: bool, mut on_message: impl FnMut(u16, &[u8])) -> Result<(), Fail> {
        let seq = self.seq;
        self.send()?;
        let mut interrupted = false;
        loop {
            let n = self.recv()?;
            let mut data = &self.reply[..n];
            while data.len() >= NLMSG_HDRLEN {
                let len = u32_at(data, 0).unwrap_or(0) as usize;
                let ty = u16_at(data, 4).unwrap_or(0);
                let flags = u16_at(data, 6).unwrap_or(0);
                let msg_seq = u32_at(data, 8).unwrap_or(0);
                if len < NLMSG_HDRLEN || len > data.len() {
                    return Err(Fail::Malformed("message length out of bounds"));
                }
                let payload = &data[NLMSG_HDRLEN..len];
                data = &data[align(len).min(data.len())..];
                if msg_seq != seq {
                    continue; // left over from an earlier, abandoned request
                }
                if flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match ty {
                    NLMSG_NOOP => {}
                    NLMSG_ERROR => {
                        let code =
                            u32_at(payload, 0).ok_or(Fail::Malformed("short NLMSG_ERROR"))? as i32;
                        if code == 0 {
                            if dump {
                                continue;
                            }
                            return Ok(());
                        }
                        // After the code: the request's header (capped) or the whole request.
                        let echoed = if flags & NLM_F_CAPPED != 0 {
                            NLMSG_HDRLEN
                        } else {
                            u32_at(payload, 4).unwrap_or(NLMSG_HDRLEN as u32) as usize
                        };
                        let message = extack_message(flags, payload, 4 + echoed);
                        return Err(Fail::Kernel {
                            errno: code.saturating_neg(),
                            message,
                        });
                    }
                    NLMSG_DONE if dump => {
                        let code = u32_at(payload, 0).unwrap_or(0) as i32;
                        if code < 0 {
                            let message = extack_message(flags, payload, 4);
                            return Err(Fail::Kernel {
                                errno: -code,
                                message,
                            });
                        }
                        return if interrupted {
                            Err(Fail::DumpInterrupted)
                        } else {
                            Ok(())
                        };
                    }
                    NLMSG_OVERRUN => return Err(Fail::Malformed("receive overrun")),
                    _ => on_message(ty, payload),
                }
            }
        }
    }

    /// Sends the request built in `self.request` and waits for its acknowledgement.
    fn ack(&mut self) -> Result<(), Fail> {
        self.exchange(false, |_, _| {})
    }

    /// Runs a dump built by `build(request, seq)`, parsing each `reply_type` message with
    /// `parse`; restarts it when the kernel says it was interrupted by a change.
    fn dump<T>(
        &mut self,
        build: impl Fn(&mut Request, u32),
        reply_type: u16,
        parse: impl Fn(&[u8]) -> Option<T>,
    ) -> Result<Vec<T>, Fail> {
        let mut out = Vec::new();
        for _ in 0..DUMP_ATTEMPTS {
            out.clear();
            let seq = self.next_seq();
            build(&mut self.request, seq);
            match self.exchange(true, |ty, payload| {
                if ty == reply_type {
                    out.extend(parse(payload));
                }
            }) {
                Err(Fail::DumpInterrupted) => continue,
                Err(e) => return Err(e),
                Ok(()) => return Ok(out),
            }
        }
        Err(Fail::DumpInterrupted)
    }

    /// Names a link for an error message: its name if it can be looked up, else its index.
    fn describe_link(&mut self, index: u32) -> String {
        match self.get_link(index, None) {
            Ok(Some(link)) => link.name,
            _ => format!("link #{index}"),
        }
    }

    fn get_link(&mut self, index: u32, name: Option<&str>) -> Result<Option<Link>, Fail> {
        let seq = self.next_seq();
        let r = &mut self.request;
        r.start(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
        r.ifinfomsg(index, 0, 0);
        if let Some(name) = name {
            r.attr_str(IFLA_IFNAME, name);
        }
        r.attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        let mut found = None;
        let result = self.exchange(false, |ty, payload| {
            if ty == RTM_NEWLINK && found.is_none() {
                found = parse_link(payload);
            }
        });
        match result {
            Ok(()) => Ok(found),
            Err(fail) if fail.errno() == Some(libc::ENODEV) => Ok(None),
            Err(fail) => Err(fail),
        }
    }

    /// All links in the namespace.
    pub fn links(&mut self) -> Result<Vec<Link>, Error> {
        self.dump(
            |r, seq| {
                r.start(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq);
                r.ifinfomsg(0, 0, 0);
                r.attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
            },
            RTM_NEWLINK,
            parse_link,
        )
        .map_err(|f| f.into_error("list links".to_string()))
    }

    /// The link called `name`, if there is one.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>, Error> {
        let op = || format!("look up link {name}");
        check_ifname(name).map_err(|what| Error::InvalidArgument { op: op(), what })?;
        self.get_link(0, Some(name)).map_err(|f| f.into_error(op()))
    }

    /// The link with interface index `index`, if there is one.
    pub fn link_by_index(&mut self, index: u32) -> Result<Option<Link>, Error> {
        self.get_link(index, None)
            .map_err(|f| f.into_error(format!("look up link #{index}")))
    }

    /// The index of a link that was just created.
    fn created_index(&mut self, name: &str, op: impl Fn() -> String) -> Result<u32, Error> {
        match self.get_link(0, Some(name)) {
            Ok(Some(link)) => Ok(link.index),
            Ok(None) => Err(Fail::Kernel {
                errno: libc::ENODEV,
                message: Some("the new link vanished before it could be looked up".into()),
            }
            .into_error(op())),
            Err(fail) => Err(fail.into_error(op())),
        }
    }

    /// Starts an exclusive `RTM_NEWLINK` for `name` of `kind`, with its MTU; returns the
    /// open `IFLA_LINKINFO` nest (the caller adds kind data, closes it and sends).
    fn begin_new_link(&mut self, name: &str, mtu: Option<u32>, kind: &str) -> usize {
        let seq = self.next_seq();
        let r = &mut self.request;
        r.start(
            RTM_NEWLINK,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            seq,
        );
        r.ifinfomsg(0, 0, 0);
        r.attr_str(IFLA_IFNAME, name);
        if let Some(mtu) = mtu {
            r.attr_u32(IFLA_MTU, mtu);
        }
        let info = r.nest(IFLA_LINKINFO);
        r.attr_str(IFLA_INFO_KIND, kind);
        info
    }

    /// Creates a bridge; returns its interface index.
    pub fn add_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<u32, Error> {
        let op = || format!("add bridge {name}");
        check_ifname(name).map_err(|what| Error::InvalidArgument { op: op(), what })?;
        let info = self.begin_new_link(name, mtu, "bridge");
        let r = &mut self.request;
        r.end_nest(info);
        self.ack().map_err(|f| f.into_error(op()))?;
        self.created_index(name, op)
    }

    /// Creates a veth pair: `name` in this socket's namespace and `peer_name` (e.g. `eth0`)
    /// directly inside `peer_ns` when given (else beside `name`). `mtu` applies to both
    /// ends. Returns the index of `name`.
    pub fn add_veth(
        &mut self,
        name: &str,
        peer_name: &str,
        peer_ns: Option<&NetNs>,
        mtu: Option<u32>,
    ) -> Result<u32, Error> {
        let op = || match peer_ns {
            Some(ns) => format!(
                "add veth {name} (peer {peer_name} in {})",
                ns.path().display()
            ),
            None => format!("add veth {name} (peer {peer_name})"),
        };
        for n in [name, peer_name] {
            check_ifname(n).map_err(|what| Error::InvalidArgument { op: op(), what })?;
        }
        let info = self.begin_new_link(name, mtu, "veth");
        let r = &mut self.request;
        let data = r.nest(IFLA_INFO_DATA);
        let peer = r.nest(VETH_INFO_PEER);
        r.ifinfomsg(0, 0, 0);
        r.attr_str(IFLA_IFNAME, peer_name);
        if let Some(mtu) = mtu {
            r.attr_u32(IFLA_MTU, mtu);
        }
        if let Some(ns) = peer_ns {
            r.attr_u32(IFLA_NET_NS_FD, ns.fd().as_raw_fd() as u32);
        }
        r.end_nest(peer);
        r.end_nest(data);
        r.end_nest(info);
        self.ack().map_err(|f| f.into_error(op()))?;
        self.created_index(name, op)
    }

    /// Sends an `RTM_SETLINK` for `index` with `flags`/`change` and at most one u32 or
    /// byte attribute, and waits for the acknowledgement.
    fn set_link(
        &mut self,
        index: u32,
        (flags, change): (u32, u32),
        attr: Option<(u16, &[u8])>,
        op: impl FnOnce(&mut Self) -> String,
    ) -> Result<(), Error> {
        let seq = self.next_seq();
        let r = &mut self.request;
        r.start(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
        r.ifinfomsg(index, flags, change);
        if let Some((ty, data)) = attr {
            r.attr(ty, data);
        }
        match self.ack() {
            Ok(()) => Ok(()),
            Err(fail) => {
                let op = op(self);
                Err(fail.into_error(op))
            }
        }
    }

    /// Enslaves link `index` to the bridge `master`.
    pub fn set_master(&mut self, index: u32, master: u32) -> Result<(), Error> {
        let attr = master.to_ne_bytes();
        self.set_link(index, (0, 0), Some((IFLA_MASTER, &attr)), |this| {
            let link = this.describe_link(index);
            let master = this.describe_link(master);
            format!("attach {link} to {master}")
        })
    }

    /// Sets link `index` administratively up.
    pub fn set_up(&mut self, index: u32) -> Result<(), Error> {
        let up = libc::IFF_UP as u32;
        self.set_link(index, (up, up), None, |this| {
            format!("set {} up", this.describe_link(index))
        })
    }

    /// Sets link `index` administratively down.
    pub fn set_down(&mut self, index: u32) -> Result<(), Error> {
        let up = libc::IFF_UP as u32;
        self.set_link(index, (0, up), None, |this| {
            format!("set {} down", this.describe_link(index))
        })
    }

    /// Sets the MTU of link `index`.
    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<(), Error> {
        let attr = mtu.to_ne_bytes();
        self.set_link(index, (0, 0), Some((IFLA_MTU, &attr)), |this| {
            format!("set MTU of {} to {mtu}", this.describe_link(index))
        })
    }

    /// Sets the hardware address of link `index`.
    pub fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> Result<(), Error> {
        self.set_link(index, (0, 0), Some((IFLA_ADDRESS, &mac)), |this| {
            let link = this.describe_link(index);
            format!("set MAC address of {link} to {}", format_mac(mac))
        })
    }

    /// Deletes link `index` (for a veth, both ends go).
    pub fn delete_link(&mut self, index: u32) -> Result<(), Error> {
        let seq = self.next_seq();
        let r = &mut self.request;
        r.start(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
        r.ifinfomsg(index, 0, 0);
        match self.ack() {
            Ok(()) => Ok(()),
            Err(fail) => {
                let link = self.describe_link(index);
                Err(fail.into_error(format!("delete {link}")))
            }
        }
    }

    /// IPv4 addresses, of link `index` or of all links.
    pub fn addresses(&mut self, index: Option<u32>) -> Result<Vec<Addr>, Error> {
        let mut addrs = self
            .dump(
                |r, seq| {
                    r.start(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
                    r.ifaddrmsg(0, 0);
                },
                RTM_NEWADDR,
                parse_addr,
            )
            .map_err(|f| f.into_error("list IPv4 addresses".to_string()))?;
        if let Some(index) = index {
            addrs.retain(|a| a.index == index);
        }
        Ok(addrs)
    }

    fn change_address(
        &mut self,
        add: bool,
        index: u32,
        ip: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), Error> {
        let op = |link: &str| {
            if add {
                format!("add address {ip}/{prefix} to {link}")
            } else {
                format!("delete address {ip}/{prefix} from {link}")
            }
        };
        if prefix > 32 {
            return Err(Error::InvalidArgument {
                op: op(&format!("link #{index}")),
                what: format!("prefix length {prefix} is longer than 32"),
            });
        }
        let seq = self.next_seq();
        let r = &mut self.request;
        if add {
            r.start(
                RTM_NEWADDR,
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                seq,
            );
        } else {
            r.start(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, seq);
        }
        r.ifaddrmsg(prefix, index);
        r.attr(IFA_LOCAL, &ip.octets());
        r.attr(IFA_ADDRESS, &ip.octets());
        if add && prefix < 31 {
            let host_mask = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
            let broadcast = Ipv4Addr::from(u32::from(ip) | host_mask);
            r.attr(IFA_BROADCAST, &broadcast.octets());
        }
        match self.ack() {
            Ok(()) => Ok(()),
            Err(fail) => {
                let link = self.describe_link(index);
                Err(fail.into_error(op(&link)))
            }
        }
    }

    /// Adds `ip/prefix` to link `index` (local, peer and broadcast addresses set as
    /// `ip addr add` does). An existing identical address is an error ([`Error::is_exists`]).
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<(), Error> {
        self.change_address(true, index, ip, prefix)
    }

    /// Removes `ip/prefix` from link `index`.
    pub fn del_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<(), Error> {
        self.change_address(false, index, ip, prefix)
    }

    fn routes_with_metric(&mut self) -> Result<Vec<(Route, u32)>, Error> {
        self.dump(
            |r, seq| {
                r.start(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
                r.rtmsg(0, 0, 0, 0, 0);
            },
            RTM_NEWROUTE,
            parse_route,
        )
        .map_err(|f| f.into_error("list IPv4 routes".to_string()))
    }

    /// IPv4 routes of all tables (including `local` = 255 and its broadcast and local
    /// routes); filter on [`Route::table`] == [`MAIN_TABLE`] for the usual view.
    pub fn routes(&mut self) -> Result<Vec<Route>, Error> {
        Ok(self
            .routes_with_metric()?
            .into_iter()
            .map(|(route, _)| route)
            .collect())
    }

    fn change_route(
        &mut self,
        add: bool,
        dst: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
        oif: Option<u32>,
    ) -> Result<(), Error> {
        let verb = if add { "add" } else { "delete" };
        let describe = |this: &mut Self| {
            let mut op = format!("{verb} route {dst}/{prefix}");
            if let Some(gw) = gateway {
                op.push_str(&format!(" via {gw}"));
            }
            if let Some(oif) = oif {
                op.push_str(&format!(" dev {}", this.describe_link(oif)));
            }
            op
        };
        if prefix > 32 {
            return Err(Error::InvalidArgument {
                op: describe(self),
                what: format!("prefix length {prefix} is longer than 32"),
            });
        }
        if add && gateway.is_none() && oif.is_none() {
            return Err(Error::InvalidArgument {
                op: describe(self),
                what: "a route needs a gateway or an output interface".to_string(),
            });
        }
        // A route through a gateway reaches beyond the link; a device route does not.
        let scope = if gateway.is_some() {
            RT_SCOPE_UNIVERSE
        } else {
            RT_SCOPE_LINK
        };
        let seq = self.next_seq();
        let r = &mut self.request;
        if add {
            r.start(
                RTM_NEWROUTE,
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                seq,
            );
        } else {
            r.start(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, seq);
        }
        r.rtmsg(prefix, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST);
        if prefix > 0 {
            r.attr(RTA_DST, &dst.octets());
        }
        if let Some(gw) = gateway {
            r.attr(RTA_GATEWAY, &gw.octets());
        }
        if let Some(oif) = oif {
            r.attr_u32(RTA_OIF, oif);
        }
        match self.ack() {
            Ok(()) => Ok(()),
            Err(fail) => {
                let op = describe(self);
                Err(fail.into_error(op))
            }
        }
    }

    /// Adds a route to `dst/prefix` in the main table, through `gateway` and/or out of
    /// link `oif` (at least one of them). An existing route is an error
    /// ([`Error::is_exists`]).
    pub fn add_route(
        &mut self,
        dst: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
        oif: Option<u32>,
    ) -> Result<(), Error> {
        self.change_route(true, dst, prefix, gateway, oif)
    }

    /// Deletes the main-table route to `dst/prefix` (narrowed by `gateway`/`oif` if given).
    pub fn del_route(
        &mut self,
        dst: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
        oif: Option<u32>,
    ) -> Result<(), Error> {
        self.change_route(false, dst, prefix, gateway, oif)
    }

    /// The MTU of the link that carries the main table's default route (the one with the
    /// lowest metric), or `None` if there is no default route.
    pub fn uplink_mtu(&mut self) -> Result<Option<u32>, Error> {
        let uplink = self
            .routes_with_metric()?
            .into_iter()
            .filter(|(r, _)| r.table == MAIN_TABLE && r.prefix == 0 && r.oif.is_some())
            .min_by_key(|&(_, metric)| metric)
            .and_then(|(r, _)| r.oif);
        match uplink {
            Some(index) => Ok(self.link_by_index(index)?.map(|link| link.mtu)),
            None => Ok(None),
        }
    }
}

/// The MTU of the interface carrying the main table's default route in the calling
/// thread's network namespace; `None` if there is no default route (or netlink fails).
pub fn uplink_mtu() -> Option<u32> {
    match Netlink::open().and_then(|mut nl| nl.uplink_mtu()) {
        Ok(mtu) => mtu,
        Err(e) => {
            tracing::warn!(error = %e, "could not find the uplink MTU");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::testing::NsDir;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("test IPv4 address")
    }

    #[test]
    fn request_encoding_pads_and_nests() {
        let mut r = Request::default();
        r.start(RTM_NEWLINK, NLM_F_REQUEST, 7);
        r.ifinfomsg(0, 0, 0);
        let info = r.nest(IFLA_LINKINFO);
        r.attr_str(IFLA_INFO_KIND, "veth"); // 4 + 5 bytes, padded to 12
        r.end_nest(info);
        let msg = r.finish().to_vec();
        assert_eq!(msg.len(), NLMSG_HDRLEN + IFINFOMSG_LEN + 4 + 12);
        assert_eq!(u32_at(&msg, 0), Some(msg.len() as u32));
        assert_eq!(u32_at(&msg, 8), Some(7));
        let attrs: Vec<_> = Attrs(&msg[NLMSG_HDRLEN + IFINFOMSG_LEN..]).collect();
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].0, IFLA_LINKINFO);
        let inner: Vec<_> = Attrs(attrs[0].1).collect();
        assert_eq!(inner, vec![(IFLA_INFO_KIND, &b"veth\0"[..])]);
    }

    #[test]
    fn attribute_parsing_stops_at_garbage() {
        // A length field pointing past the end yields nothing instead of panicking.
        let bogus = [200u8, 0, 1, 0, 1, 2, 3, 4];
        assert_eq!(Attrs(&bogus).count(), 0);
        assert_eq!(Attrs(&[1, 0]).count(), 0);
        assert!(parse_link(&[0; 4]).is_none());
        assert!(parse_route(&[0; 4]).is_none());
    }

    #[test]
    fn routes_parse_table_metric_and_multipath_next_hop() {
        let mut r = Request::default();
        r.start(RTM_NEWROUTE, 0, 1);
        r.rtmsg(
            0,
            RT_TABLE_MAIN,
            RTPROT_BOOT,
            RT_SCOPE_UNIVERSE,
            RTN_UNICAST,
        );
        r.attr_u32(RTA_TABLE, MAIN_TABLE);
        r.attr_u32(RTA_PRIORITY, 100);
        let mut hop = vec![8, 0, 0, 0];
        hop.extend_from_slice(&7u32.to_ne_bytes());
        r.attr(RTA_MULTIPATH, &hop);
        let msg = r.finish().to_vec();
        let (route, metric) = parse_route(&msg[NLMSG_HDRLEN..]).expect("parses");
        assert_eq!(metric, 100);
        assert_eq!(
            route,
            Route {
                dst: Ipv4Addr::UNSPECIFIED,
                prefix: 0,
                gateway: None,
                oif: Some(7),
                table: MAIN_TABLE
            }
        );
    }

    #[test]
    fn interface_names_are_checked_before_sending() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("wt-0123456789ab").is_ok()); // 15 bytes
        for bad in ["", "wt-0123456789abc", "a/b", "a b", "..", "a\0b"] {
            assert!(check_ifname(bad).is_err(), "{bad:?}");
        }
    }

    /// A bridge in namespace A, a veth with one end on it and the peer `eth0` created
    /// directly in namespace B, addresses on both, a default route in B through the bridge:
    /// a TCP connection from B reaches a listener in A on an address outside B's subnet.
    #[test]
    fn bridge_and_veth_between_namespaces_carry_tcp() {
        let mut dir = NsDir::new();
        let (a, mut nla) = dir.create_with_netlink("a");
        let b = dir.create("b");
        let mut nlb = Netlink::open_in(&b).expect("netlink in b");

        let br = nla.add_bridge("wt-br0", Some(1400)).expect("add bridge");
        let veth = nla
            .add_veth("wt-veth0", "eth0", Some(&b), Some(1400))
            .expect("add veth");
        assert_ne!(br, veth);
        assert!(
            nla.link_by_name("eth0").expect("lookup").is_none(),
            "peer went to b"
        );
        nla.set_master(veth, br).expect("attach veth to bridge");
        nla.set_up(br).expect("bridge up");
        nla.set_up(veth).expect("veth up");
        nla.add_address(br, ip("10.1.0.1"), 24)
            .expect("bridge address");
        nla.add_address(br, ip("10.2.0.1"), 24)
            .expect("second bridge address");

        let eth0 = nlb
            .link_by_name("eth0")
            .expect("lookup")
            .expect("eth0 in b");
        assert_eq!(eth0.kind.as_deref(), Some("veth"));
        assert_eq!(eth0.mtu, 1400);
        assert!(!eth0.up);
        nlb.add_address(eth0.index, ip("10.1.0.2"), 24)
            .expect("eth0 address");
        nlb.set_up(eth0.index).expect("eth0 up");
        nlb.add_route(Ipv4Addr::UNSPECIFIED, 0, Some(ip("10.1.0.1")), None)
            .expect("default route");

        // What the kernel reports matches what was asked for.
        let links = nla.links().expect("links in a");
        let bridge = links.iter().find(|l| l.index == br).expect("bridge listed");
        assert_eq!(
            (bridge.name.as_str(), bridge.kind.as_deref()),
            ("wt-br0", Some("bridge"))
        );
        assert!(bridge.up && bridge.mac.is_some());
        let host_end = links.iter().find(|l| l.index == veth).expect("veth listed");
        assert_eq!(host_end.name, "wt-veth0");
        assert_eq!(host_end.master, Some(br));
        assert!(host_end.up);
        let mut addrs = nla.addresses(Some(br)).expect("bridge addresses");
        addrs.sort_by_key(|a| a.ip);
        assert_eq!(
            addrs,
            vec![
                Addr {
                    index: br,
                    ip: ip("10.1.0.1"),
                    prefix: 24
                },
                Addr {
                    index: br,
                    ip: ip("10.2.0.1"),
                    prefix: 24
                },
            ]
        );
        assert!(
            nla.addresses(None)
                .expect("all")
                .iter()
                .any(|a| a.ip == Ipv4Addr::LOCALHOST)
        );
        let default = nlb
            .routes()
            .expect("routes in b")
            .into_iter()
            .find(|r| r.table == MAIN_TABLE && r.prefix == 0)
            .expect("default route listed");
        assert_eq!(default.gateway, Some(ip("10.1.0.1")));
        assert_eq!(default.oif, Some(eth0.index));
        assert_eq!(nlb.uplink_mtu().expect("uplink in b"), Some(1400));
        assert_eq!(b.run(uplink_mtu).expect("run in b"), Some(1400));
        assert_eq!(
            a.run(uplink_mtu).expect("run in a"),
            None,
            "a has no default route"
        );

        // Traffic: B → default route → bridge in A → 10.2.0.1.
        let listener = a
            .run(|| TcpListener::bind("10.2.0.1:0"))
            .expect("run in a")
            .expect("listen in a");
        let target = listener.local_addr().expect("listener address");
        let mut client = b
            .run(|| TcpStream::connect_timeout(&target, TIMEOUT))
            .expect("run in b")
            .expect("connect from b to a");
        client.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        client.write_all(b"ping").expect("send ping");
        // The handshake is done, so the connection is already queued: accept returns.
        let (mut server, peer) = listener.accept().expect("accept");
        assert_eq!(peer.ip(), SocketAddr::from((ip("10.1.0.2"), 0)).ip());
        server.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let mut got = [0; 4];
        server.read_exact(&mut got).expect("read ping");
        assert_eq!(&got, b"ping");
        server.write_all(b"pong").expect("send pong");
        client.read_exact(&mut got).expect("read pong");
        assert_eq!(&got, b"pong");
    }

    #[test]
    fn link_changes_and_deletion() {
        let mut dir = NsDir::new();
        let (_a, mut nl) = dir.create_with_netlink("a");
        let v0 = nl
            .add_veth("wt-v0", "wt-v1", None, None)
            .expect("veth pair in one ns");
        let v1 = nl
            .link_by_name("wt-v1")
            .expect("lookup")
            .expect("peer beside it");
        assert_eq!(v1.kind.as_deref(), Some("veth"));

        nl.set_mtu(v0, 1280).expect("set mtu");
        let mac = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02];
        nl.set_mac(v0, mac).expect("set mac");
        nl.set_up(v0).expect("up");
        let link = nl.link_by_index(v0).expect("lookup").expect("exists");
        assert_eq!((link.mtu, link.mac, link.up), (1280, Some(mac), true));
        nl.set_down(v0).expect("down");
        assert!(!nl.link_by_index(v0).expect("lookup").expect("exists").up);

        nl.add_address(v0, ip("172.30.0.1"), 30).expect("add");
        nl.add_address(v0, ip("172.31.0.1"), 32)
            .expect("add /32 (no broadcast)");
        nl.del_address(v0, ip("172.30.0.1"), 30).expect("delete");
        assert_eq!(
            nl.addresses(Some(v0)).expect("list"),
            vec![Addr {
                index: v0,
                ip: ip("172.31.0.1"),
                prefix: 32
            }]
        );
        nl.set_up(v0).expect("up");
        nl.add_route(ip("192.168.7.0"), 24, None, Some(v0))
            .expect("device route");
        let dev_route = Route {
            dst: ip("192.168.7.0"),
            prefix: 24,
            gateway: None,
            oif: Some(v0),
            table: MAIN_TABLE,
        };
        assert!(nl.routes().expect("routes").contains(&dev_route));
        nl.del_route(ip("192.168.7.0"), 24, None, Some(v0))
            .expect("delete route");
        assert!(!nl.routes().expect("routes").contains(&dev_route));

        nl.delete_link(v0).expect("delete veth");
        assert!(nl.link_by_index(v0).expect("lookup").is_none());
        assert!(
            nl.link_by_name("wt-v1").expect("lookup").is_none(),
            "both ends go"
        );
    }

    #[test]
    fn errors_name_the_operation_and_object() {
        let mut dir = NsDir::new();
        let (_a, mut nl) = dir.create_with_netlink("a");
        let br = nl.add_bridge("wt-br0", None).expect("bridge");

        let err = nl.add_bridge("wt-br0", None).expect_err("duplicate name");
        assert!(err.is_exists(), "{err}");
        assert_eq!(err.errno(), Some(libc::EEXIST));
        assert!(
            err.to_string()
                .starts_with("add bridge wt-br0: File exists (os error 17)"),
            "{err}"
        );
        let err = nl
            .add_veth("wt-br0", "wt-p", None, None)
            .expect_err("name taken");
        assert!(err.is_exists(), "{err}");

        nl.add_address(br, ip("10.1.0.1"), 24).expect("address");
        let err = nl
            .add_address(br, ip("10.1.0.1"), 24)
            .expect_err("duplicate address");
        assert!(err.is_exists(), "{err}");
        assert!(
            err.to_string()
                .starts_with("add address 10.1.0.1/24 to wt-br0: File exists (os error 17)"),
            "{err}"
        );
        let err = nl
            .del_address(br, ip("10.9.0.1"), 24)
            .expect_err("missing address");
        assert!(err.is_not_found(), "{err}");
        assert!(
            err.to_string()
                .contains("delete address 10.9.0.1/24 from wt-br0"),
            "{err}"
        );

        let err = nl.delete_link(999_999).expect_err("missing link");
        assert!(err.is_not_found(), "{err}");
        assert!(
            err.to_string()
                .starts_with("delete link #999999: No such device"),
            "{err}"
        );
        let err = nl.set_up(999_999).expect_err("missing link");
        assert!(err.is_not_found(), "{err}");
        let err = nl.set_master(br, 999_999).expect_err("missing master");
        assert!(
            err.to_string().starts_with("attach wt-br0 to link #999999"),
            "{err}"
        );

        let err = nl
            .add_route(Ipv4Addr::UNSPECIFIED, 0, Some(ip("192.0.2.1")), None)
            .expect_err("gateway not on any link");
        assert_eq!(err.errno(), Some(libc::ENETUNREACH), "{err}");
        assert!(
            err.to_string()
                .starts_with("add route 0.0.0.0/0 via 192.0.2.1"),
            "{err}"
        );
        let err = nl
            .del_route(ip("10.77.0.0"), 16, None, None)
            .expect_err("missing route");
        assert!(err.is_not_found(), "{err}");

        let err = nl
            .add_veth("wt-x", "a-peer-name-too-long", None, None)
            .expect_err("long");
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
        assert!(err.to_string().contains("a-peer-name-too-long"), "{err}");
        assert!(
            nl.link_by_name("wt-x").expect("lookup").is_none(),
            "nothing was created"
        );
        assert!(nl.link_by_name("nope0").expect("lookup").is_none());

        // The socket stays usable after errors.
        assert!(nl.links().expect("links").iter().any(|l| l.index == br));
    }

    /// Times what a container start does: a new namespace, a socket in it, a veth whose peer
    /// lands in it as eth0 on a bridge, an address, a default route, links up. Run with
    /// `cargo test --release -p net -- --ignored --nocapture container_network_setup_timing`.
    #[test]
    #[ignore = "prints timings; run by hand"]
    fn container_network_setup_timing() {
        const ROUNDS: usize = 100;
        let mut dir = NsDir::new();
        let (_host, mut host) = dir.create_with_netlink("host");
        let br = host.add_bridge("wt-br0", None).expect("bridge");
        host.add_address(br, ip("10.88.0.1"), 16)
            .expect("bridge address");
        host.set_up(br).expect("bridge up");

        let median = |mut v: Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        for with_netlink in [false, true] {
            let mut steps: [Vec<Duration>; 6] = Default::default();
            let mut made = Vec::with_capacity(ROUNDS);
            for i in 0..ROUNDS {
                let path = dir.path(&format!("c{with_netlink}-{i}"));
                let start = Instant::now();
                let (ns, mut inner) = if with_netlink {
                    NetNs::create_with_netlink(&path).expect("create ns")
                } else {
                    let ns = NetNs::create(&path).expect("create ns");
                    steps[0].push(start.elapsed());
                    let inner = Netlink::open_in(&ns).expect("netlink in ns");
                    (ns, inner)
                };
                let t_open = start.elapsed();
                let name = format!("wt-veth{i}");
                let veth = host.add_veth(&name, "eth0", Some(&ns), None).expect("veth");
                host.set_master(veth, br).expect("attach");
                host.set_up(veth).expect("veth up");
                let t_veth = start.elapsed();
                let eth0 = inner
                    .link_by_name("eth0")
                    .expect("lookup")
                    .expect("eth0")
                    .index;
                let addr = Ipv4Addr::from(u32::from(ip("10.88.1.0")) + i as u32 + 1);
                inner.add_address(eth0, addr, 16).expect("address");
                inner.set_up(eth0).expect("eth0 up");
                let t_addr = start.elapsed();
                inner
                    .add_route(Ipv4Addr::UNSPECIFIED, 0, Some(ip("10.88.0.1")), None)
                    .expect("route");
                let total = start.elapsed();
                steps[1].push(t_open);
                steps[2].push(t_veth - t_open);
                steps[3].push(t_addr - t_veth);
                steps[4].push(total - t_addr);
                steps[5].push(total);
                made.push((path, veth));
            }
            // Teardown is timed apart: the kernel destroys namespaces in the background,
            // which would otherwise slow down the next rounds' setup. Removing the namespace
            // is enough: the kernel then deletes eth0 and with it the host end, in batches
            // (delete_link of each veth costs tens of milliseconds of RCU waits instead).
            let start = Instant::now();
            for (path, _) in &made {
                crate::netns::remove(path).expect("remove ns");
            }
            let teardown = start.elapsed() / ROUNDS as u32;
            let veths_left = |host: &mut Netlink| {
                let links = host.links().expect("host links");
                made.iter()
                    .filter(|(_, v)| links.iter().any(|l| l.index == *v))
                    .count()
            };
            while veths_left(&mut host) > 0 {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "veths outlived their namespaces"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            let gone = start.elapsed();
            std::thread::sleep(Duration::from_millis(500));
            let [create, open, veth, addr, route, total] = steps;
            println!(
                "{}: median over {ROUNDS} rounds: total {:?} (p90 {:?}); namespace + socket {:?}{}, \
                 add_veth+set_master+up {:?}, eth0 lookup+address+up {:?}, default route {:?}; \
                 teardown: remove() {teardown:?} each, all {ROUNDS} veths gone after {gone:?}",
                if with_netlink {
                    "NetNs::create_with_netlink"
                } else {
                    "NetNs::create + Netlink::open_in"
                },
                median(total.clone()),
                {
                    let mut t = total;
                    t.sort();
                    t[ROUNDS * 9 / 10]
                },
                median(open),
                if create.is_empty() {
                    String::new()
                } else {
                    format!(" (create alone {:?})", median(create))
                },
                median(veth),
                median(addr),
                median(route),
            );
        }
    }
}
