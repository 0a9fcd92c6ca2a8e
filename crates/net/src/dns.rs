//! A small DNS server for the names on Wharf's networks.
//!
//! [`serve`] answers the names a [`Resolver`] owns (container names and aliases on a
//! user-defined network, later Kubernetes Services) authoritatively, and relays every other
//! query unchanged to the upstream servers the resolver names (the host's resolvers, or a
//! container's `--dns`). The engine runs one server per user-defined network, on the
//! network's gateway address, port 53.
//!
//! The codec ([`Query`], [`Response`], [`write_response`], …) follows RFC 1035 with EDNS(0)
//! (RFC 6891) and TCP framing per RFC 7766; it is written by hand, allocation-free for the
//! query path.

mod message;
mod server;
#[cfg(test)]
mod tests;

pub use message::{
    Answer, CLASS_IN, EDNS_UDP_LEN, Edns, HEADER_LEN, Header, MAX_LABEL_LEN, MAX_NAME_LEN,
    MessageError, Name, PLAIN_UDP_LEN, Query, Question, Rcode, Record, Response, build_query,
    parse_reverse_name, reverse_name, rtype, write_error, write_response,
};
pub use server::{
    DEFAULT_TTL, Lookup, Resolver, ServerHandle, TCP_IDLE_TIMEOUT, UPSTREAM_TIMEOUT, serve,
};
