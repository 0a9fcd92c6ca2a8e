//! Wharf's network layer: the pieces that put containers (and later pods) on networks.
//!
//! - [`netns`]: network namespaces kept alive by a bind mount, and running code inside one.
//! - [`netlink`]: links, addresses and routes over rtnetlink (synchronous, no `ip` binary).
//! - [`ipam`]: subnets and address allocation.
//! - [`nft`]: Wharf's own nftables table (NAT, port publishing, isolation), rendered from
//!   the desired state and applied atomically.
//! - [`dns`]: a small DNS codec and server for names on user-defined networks.
//!
//! Nothing here knows about containers: the engine describes networks and endpoints, and
//! this crate makes the kernel match.

pub mod dns;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod nft;
