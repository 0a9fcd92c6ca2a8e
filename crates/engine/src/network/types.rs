//! What a container's record keeps about its networks.

use std::net::Ipv4Addr;

use net::nft::Proto;
use serde::{Deserialize, Serialize};

/// A network the container is configured to join (`--network`, `NetworkingConfig`,
/// `network connect`), kept while the container exists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRequest {
    pub network_id: String,
    pub network_name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ipv4_address: Option<Ipv4Addr>,
    #[serde(default)]
    pub mac_address: Option<String>,
    #[serde(default)]
    pub links: Vec<String>,
    #[serde(default)]
    pub driver_opts: serde_json::Map<String, serde_json::Value>,
}

/// A container's live attachment to one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network_id: String,
    pub network_name: String,
    pub endpoint_id: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// None on internal networks (no default route).
    pub gateway: Option<Ipv4Addr>,
    /// The network's gateway address, which answers DNS on user-defined networks.
    pub dns_server: Option<Ipv4Addr>,
    pub mac: String,
    /// The host side of the veth pair.
    pub host_veth: String,
    /// The interface inside (`eth0`, `eth1`, …).
    pub ifname: String,
    pub aliases: Vec<String>,
    /// The names other containers on the network resolve to this endpoint.
    pub dns_names: Vec<String>,
}

/// A published port as bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    #[serde(with = "proto_serde")]
    pub proto: Proto,
    pub container_port: u16,
    /// None = every address (0.0.0.0).
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
}

mod proto_serde {
    use net::nft::Proto;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Proto, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Proto, D::Error> {
        match String::deserialize(d)?.as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            other => Err(serde::de::Error::custom(format!(
                "unknown protocol {other}"
            ))),
        }
    }
}

/// The network part of a container's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerNet {
    /// Networks to join at start, in order (the first is the primary one).
    #[serde(default)]
    pub requested: Vec<EndpointRequest>,
    /// While running: the namespace file.
    #[serde(default)]
    pub sandbox_key: String,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
}
