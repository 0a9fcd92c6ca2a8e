//! DNS messages (RFC 1035): parsing queries and responses, writing responses.
//!
//! Parsing never panics and never allocates for a query: a [`Name`] is kept in its
//! uncompressed wire form in a fixed 255-byte buffer. Compression pointers are followed on
//! read; each pointer must point strictly before the previous one (or before the name's
//! start), which both matches how every encoder compresses and makes loops impossible.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Resource record type numbers used by Wharf (the `qtype` handed to resolvers).
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Canonical name (alias).
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Domain name pointer (reverse lookups).
    pub const PTR: u16 = 12;
    /// Mail exchange.
    pub const MX: u16 = 15;
    /// Text strings.
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// Service location (RFC 2782).
    pub const SRV: u16 = 33;
    /// EDNS(0) pseudo record (RFC 6891).
    pub const OPT: u16 = 41;
    /// Any type (`*`).
    pub const ANY: u16 = 255;
}

/// The Internet class.
pub const CLASS_IN: u16 = 1;
/// Size of the fixed message header.
pub const HEADER_LEN: usize = 12;
/// Longest name in wire form, terminating zero included (RFC 1035 2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label (RFC 1035 2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Largest UDP response to a client that did not announce EDNS.
pub const PLAIN_UDP_LEN: usize = 512;
/// The UDP payload size Wharf announces and honours at most (the DNS flag day 2020 value).
pub const EDNS_UDP_LEN: u16 = 1232;

const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;
/// Pointer to the question name, which always sits right after the header in our responses.
const POINTER_TO_QNAME: [u8; 2] = [0xC0, HEADER_LEN as u8];

/// Why a message could not be parsed, or a name could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Fewer bytes than a header.
    #[error("message is {len} bytes long, shorter than the 12-byte DNS header")]
    ShortHeader {
        /// Length of the message.
        len: usize,
    },
    /// The message ends inside a field.
    #[error("message ends at byte {len} inside {what}, which needs byte {needed}")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes needed to read it.
        needed: usize,
        /// Length of the message.
        len: usize,
    },
    /// A name is longer than 255 bytes in wire form.
    #[error("name starting at byte {offset} is longer than 255 bytes")]
    NameTooLong {
        /// Where the name starts.
        offset: usize,
    },
    /// A compression pointer does not point strictly backwards.
    #[error(
        "compression pointer at byte {offset} points to byte {target}, which is not before the name it continues (a pointer loop)"
    )]
    PointerLoop {
        /// Where the pointer is.
        offset: usize,
        /// Where it points.
        target: usize,
    },
    /// A label starts with the reserved `01`/`10` type bits (RFC 6891 extended labels).
    #[error("label at byte {offset} has reserved type bits {bits:#04x}")]
    BadLabelType {
        /// Where the label is.
        offset: usize,
        /// The two top bits of the length byte.
        bits: u8,
    },
    /// The message is a response (QR=1) where a query was expected.
    #[error("message is a response, not a query")]
    NotAQuery,
    /// An opcode other than QUERY.
    #[error("opcode {0} is not supported (only QUERY, 0)")]
    UnsupportedOpcode(u8),
    /// A query without exactly one question.
    #[error("query has {0} questions; exactly one is supported")]
    QuestionCount(u16),
    /// More than one OPT record in the additional section.
    #[error("message has more than one OPT record")]
    DuplicateOpt,
    /// A name given as text cannot be encoded.
    #[error("{name:?} is not a valid domain name: {reason}")]
    InvalidName {
        /// The text.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

type Result<T> = std::result::Result<T, MessageError>;

/// Response codes. [`Rcode::BadVers`] needs EDNS (its upper bits travel in the OPT record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Rcode {
    /// No error.
    NoError = 0,
    /// The query was malformed.
    FormErr = 1,
    /// The server failed (e.g. no upstream answered).
    ServFail = 2,
    /// The name does not exist.
    NxDomain = 3,
    /// The kind of query is not implemented.
    NotImp = 4,
    /// The server refuses to answer.
    Refused = 5,
    /// Unsupported EDNS version (RFC 6891).
    BadVers = 16,
}

/// The fixed 12-byte message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Transaction id, copied into the response.
    pub id: u16,
    /// QR, opcode, AA, TC, RD, RA, Z and RCODE bits.
    pub flags: u16,
    /// Number of questions.
    pub qdcount: u16,
    /// Number of answer records.
    pub ancount: u16,
    /// Number of authority records.
    pub nscount: u16,
    /// Number of additional records.
    pub arcount: u16,
}

impl Header {
    /// Reads the header at the start of `msg`.
    pub fn parse(msg: &[u8]) -> Result<Header> {
        if msg.len() < HEADER_LEN {
            return Err(MessageError::ShortHeader { len: msg.len() });
        }
        let word = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
        Ok(Header {
            id: word(0),
            flags: word(2),
            qdcount: word(4),
            ancount: word(6),
            nscount: word(8),
            arcount: word(10),
        })
    }

    /// QR: the message is a response.
    pub fn is_response(&self) -> bool {
        self.flags & FLAG_QR != 0
    }
    /// The 4-bit opcode (0 = QUERY).
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }
    /// AA: authoritative answer.
    pub fn authoritative(&self) -> bool {
        self.flags & FLAG_AA != 0
    }
    /// TC: the message was truncated.
    pub fn truncated(&self) -> bool {
        self.flags & FLAG_TC != 0
    }
    /// RD: recursion desired.
    pub fn recursion_desired(&self) -> bool {
        self.flags & FLAG_RD != 0
    }
    /// RA: recursion available.
    pub fn recursion_available(&self) -> bool {
        self.flags & FLAG_RA != 0
    }
    /// The 4-bit response code of the header (without EDNS extension bits).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xF) as u8
    }

    fn write(&self, out: &mut [u8]) {
        for (i, word) in [
            self.id,
            self.flags,
            self.qdcount,
            self.ancount,
            self.nscount,
            self.arcount,
        ]
        .into_iter()
        .enumerate()
        {
            out[2 * i..2 * i + 2].copy_from_slice(&word.to_be_bytes());
        }
    }
}

/// A domain name in uncompressed wire form (length-prefixed labels, terminating zero),
/// stored inline so parsing a query does not allocate. Case is preserved as received.
#[derive(Clone, Copy)]
pub struct Name {
    wire: [u8; MAX_NAME_LEN],
    len: u8,
}

impl Name {
    /// The root name `.`.
    pub const ROOT: Name = Name {
        wire: [0; MAX_NAME_LEN],
        len: 1,
    };

    /// Parses a name in presentation form: labels separated by dots, trailing dot optional,
    /// `\.`, `\\` and `\DDD` escapes; `""` and `"."` are the root.
    pub fn from_text(text: &str) -> Result<Name> {
        let invalid = |reason| MessageError::InvalidName {
            name: text.to_owned(),
            reason,
        };
        let mut name = Name {
            wire: [0; MAX_NAME_LEN],
            len: 0,
        };
        let bytes = text.as_bytes();
        if bytes.is_empty() || bytes == b"." {
            name.len = 1;
            return Ok(name);
        }
        let mut w = 0usize; // where the current label's length byte goes
        let mut label_len = 0usize;
        let mut i = 0usize;
        let push = |name: &mut Name, w: usize, label_len: &mut usize, byte: u8| {
            *label_len += 1;
            if *label_len > MAX_LABEL_LEN {
                return Err(invalid("a label is longer than 63 bytes"));
            }
            let at = w + *label_len;
            if at + 1 >= MAX_NAME_LEN {
                return Err(invalid("the name is longer than 255 bytes"));
            }
            name.wire[at] = byte;
            Ok(())
        };
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            match b {
                b'.' => {
                    if label_len == 0 {
                        return Err(invalid("it has an empty label"));
                    }
                    name.wire[w] = label_len as u8;
                    w += label_len + 1;
                    label_len = 0;
                }
                b'\\' => {
                    let digits = bytes
                        .get(i..i + 3)
                        .filter(|d| d.iter().all(u8::is_ascii_digit));
                    let byte = if let Some(d) = digits {
                        i += 3;
                        let v = d.iter().fold(0u32, |v, c| v * 10 + u32::from(c - b'0'));
                        u8::try_from(v).map_err(|_| invalid("a \\DDD escape is above 255"))?
                    } else {
                        let c = *bytes
                            .get(i)
                            .ok_or_else(|| invalid("it ends with a backslash"))?;
                        i += 1;
                        c
                    };
                    push(&mut name, w, &mut label_len, byte)?;
                }
                _ => push(&mut name, w, &mut label_len, b)?,
            }
        }
        if label_len > 0 {
            name.wire[w] = label_len as u8;
            w += label_len + 1;
        }
        name.wire[w] = 0;
        name.len = (w + 1) as u8;
        Ok(name)
    }

    /// The uncompressed wire form, terminating zero included.
    pub fn wire(&self) -> &[u8] {
        &self.wire[..usize::from(self.len)]
    }

    /// The labels, without length bytes.
    pub fn labels(&self) -> impl Iterator<Item = &[u8]> {
        let wire = self.wire();
        let mut pos = 0usize;
        std::iter::from_fn(move || {
            let len = usize::from(*wire.get(pos)?);
            if len == 0 {
                return None;
            }
            let label = wire.get(pos + 1..pos + 1 + len)?;
            pos += 1 + len;
            Some(label)
        })
    }

    /// Appends the name in presentation form, ASCII-lowercased, without a trailing dot
    /// (the root is the empty string). Bytes outside printable ASCII, dots and backslashes
    /// inside labels are escaped as `\DDD` / `\.` / `\\`.
    pub fn write_lowercase(&self, out: &mut String) {
        self.write_text(out, true);
    }

    fn write_text(&self, out: &mut String, lowercase: bool) {
        for (n, label) in self.labels().enumerate() {
            if n > 0 {
                out.push('.');
            }
            for &b in label {
                match b {
                    b'.' | b'\\' => {
                        out.push('\\');
                        out.push(char::from(b));
                    }
                    0x21..=0x7E if lowercase => out.push(char::from(b.to_ascii_lowercase())),
                    0x21..=0x7E => out.push(char::from(b)),
                    _ => {
                        out.push('\\');
                        out.push(char::from(b'0' + b / 100));
                        out.push(char::from(b'0' + (b / 10) % 10));
                        out.push(char::from(b'0' + b % 10));
                    }
                }
            }
        }
    }

    /// Whether two names are equal ignoring ASCII case (RFC 4343).
    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.wire().eq_ignore_ascii_case(other.wire())
    }

    /// Reads a possibly compressed name at `start`; returns it and the offset just past it.
    pub fn parse(msg: &[u8], start: usize) -> Result<(Name, usize)> {
        let mut name = Name {
            wire: [0; MAX_NAME_LEN],
            len: 0,
        };
        let mut w = 0usize;
        let mut pos = start;
        let mut end = None; // offset after the first pointer: where the caller continues
        let mut limit = start; // every pointer must point strictly before this
        loop {
            let b = *msg.get(pos).ok_or(MessageError::Truncated {
                what: "a name",
                needed: pos + 1,
                len: msg.len(),
            })?;
            match b & 0xC0 {
                0x00 if b == 0 => {
                    name.wire[w] = 0;
                    name.len = (w + 1) as u8;
                    return Ok((name, end.unwrap_or(pos + 1)));
                }
                0x00 => {
                    let len = usize::from(b);
                    let label = msg
                        .get(pos + 1..pos + 1 + len)
                        .ok_or(MessageError::Truncated {
                            what: "a label",
                            needed: pos + 1 + len,
                            len: msg.len(),
                        })?;
                    // Room is needed for this label and the terminating zero.
                    if w + 1 + len + 1 > MAX_NAME_LEN {
                        return Err(MessageError::NameTooLong { offset: start });
                    }
                    name.wire[w] = b;
                    name.wire[w + 1..w + 1 + len].copy_from_slice(label);
                    w += 1 + len;
                    pos += 1 + len;
                }
                0xC0 => {
                    let low = *msg.get(pos + 1).ok_or(MessageError::Truncated {
                        what: "a compression pointer",
                        needed: pos + 2,
                        len: msg.len(),
                    })?;
                    let target = usize::from(u16::from_be_bytes([b & 0x3F, low]));
                    if target >= limit {
                        return Err(MessageError::PointerLoop {
                            offset: pos,
                            target,
                        });
                    }
                    end.get_or_insert(pos + 2);
                    limit = target;
                    pos = target;
                }
                bits => {
                    return Err(MessageError::BadLabelType { offset: pos, bits });
                }
            }
        }
    }
}

impl PartialEq for Name {
    /// Names compare ignoring ASCII case.
    fn eq(&self, other: &Name) -> bool {
        self.eq_ignore_case(other)
    }
}
impl Eq for Name {}

impl fmt::Display for Name {
    /// Presentation form as received (case preserved), with a trailing dot.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_text(&mut s, false);
        s.push('.');
        f.write_str(&s)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// One question: name, type and class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    /// The name asked about.
    pub name: Name,
    /// The record type asked for (see [`rtype`]).
    pub qtype: u16,
    /// The class (1 = IN).
    pub qclass: u16,
}

impl Question {
    fn parse(msg: &[u8], pos: usize) -> Result<(Question, usize)> {
        let (name, pos) = Name::parse(msg, pos)?;
        let fixed = msg.get(pos..pos + 4).ok_or(MessageError::Truncated {
            what: "a question's type and class",
            needed: pos + 4,
            len: msg.len(),
        })?;
        let question = Question {
            name,
            qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
        };
        Ok((question, pos + 4))
    }
}

/// The EDNS(0) parameters of a message's OPT record (RFC 6891).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// Largest UDP payload the sender can receive.
    pub udp_payload_size: u16,
    /// EDNS version (only 0 exists).
    pub version: u8,
    /// The DO (DNSSEC OK) bit.
    pub dnssec_ok: bool,
}

/// A parsed standard query: one question, optional EDNS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// The header as received.
    pub header: Header,
    /// The question.
    pub question: Question,
    /// The OPT record, if the client sent one.
    pub edns: Option<Edns>,
}

impl Query {
    /// Parses a query. Responses are rejected with [`MessageError::NotAQuery`], opcodes other
    /// than QUERY with [`MessageError::UnsupportedOpcode`].
    pub fn parse(msg: &[u8]) -> Result<Query> {
        let header = Header::parse(msg)?;
        if header.is_response() {
            return Err(MessageError::NotAQuery);
        }
        if header.opcode() != 0 {
            return Err(MessageError::UnsupportedOpcode(header.opcode()));
        }
        if header.qdcount != 1 {
            return Err(MessageError::QuestionCount(header.qdcount));
        }
        let (question, mut pos) = Question::parse(msg, HEADER_LEN)?;
        let mut edns = None;
        let records = u32::from(header.ancount) + u32::from(header.nscount);
        for _ in 0..records {
            pos = RawRecord::parse(msg, pos)?.end;
        }
        for _ in 0..header.arcount {
            let record = RawRecord::parse(msg, pos)?;
            pos = record.end;
            if record.rtype == rtype::OPT {
                if edns.is_some() {
                    return Err(MessageError::DuplicateOpt);
                }
                edns = Some(Edns {
                    udp_payload_size: record.class,
                    version: (record.ttl >> 16) as u8,
                    dnssec_ok: record.ttl & 0x8000 != 0,
                });
            }
        }
        Ok(Query {
            header,
            question,
            edns,
        })
    }

    /// The largest UDP response this client accepts, as far as Wharf is willing to send:
    /// 512 without EDNS, else its announced size within 512..=1232.
    pub fn udp_limit(&self) -> usize {
        match self.edns {
            None => PLAIN_UDP_LEN,
            Some(e) => {
                usize::from(e.udp_payload_size).clamp(PLAIN_UDP_LEN, usize::from(EDNS_UDP_LEN))
            }
        }
    }
}

/// A resource record's fixed fields, with its rdata located in the message.
struct RawRecord {
    name: Name,
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata: std::ops::Range<usize>,
    end: usize,
}

impl RawRecord {
    fn parse(msg: &[u8], pos: usize) -> Result<RawRecord> {
        let (name, pos) = Name::parse(msg, pos)?;
        let fixed = msg.get(pos..pos + 10).ok_or(MessageError::Truncated {
            what: "a record's fixed fields",
            needed: pos + 10,
            len: msg.len(),
        })?;
        let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let start = pos + 10;
        if start + rdlength > msg.len() {
            return Err(MessageError::Truncated {
                what: "a record's data",
                needed: start + rdlength,
                len: msg.len(),
            });
        }
        Ok(RawRecord {
            name,
            rtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            class: u16::from_be_bytes([fixed[2], fixed[3]]),
            ttl: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            rdata: start..start + rdlength,
            end: start + rdlength,
        })
    }
}

/// Record data Wharf serves. Names are in presentation form (trailing dot optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A reverse-lookup target name.
    Ptr(String),
    /// A service location.
    Srv {
        /// Lower is preferred.
        priority: u16,
        /// Relative weight among equal priorities.
        weight: u16,
        /// The service's port.
        port: u16,
        /// The host providing the service.
        target: String,
    },
    /// An alias: the canonical name.
    Cname(String),
}

impl Answer {
    /// The record type of this answer.
    pub fn rtype(&self) -> u16 {
        match self {
            Answer::A(_) => rtype::A,
            Answer::Aaaa(_) => rtype::AAAA,
            Answer::Ptr(_) => rtype::PTR,
            Answer::Srv { .. } => rtype::SRV,
            Answer::Cname(_) => rtype::CNAME,
        }
    }

    /// Appends the record (owner = the question name, by pointer) to `out`.
    fn write_record(&self, out: &mut Vec<u8>, ttl: u32) -> Result<()> {
        out.extend_from_slice(&POINTER_TO_QNAME);
        out.extend_from_slice(&self.rtype().to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        let rdlength_at = out.len();
        out.extend_from_slice(&[0, 0]);
        match self {
            Answer::A(ip) => out.extend_from_slice(&ip.octets()),
            Answer::Aaaa(ip) => out.extend_from_slice(&ip.octets()),
            Answer::Ptr(name) | Answer::Cname(name) => {
                out.extend_from_slice(Name::from_text(name)?.wire());
            }
            Answer::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                let target = Name::from_text(target)?;
                out.extend_from_slice(&priority.to_be_bytes());
                out.extend_from_slice(&weight.to_be_bytes());
                out.extend_from_slice(&port.to_be_bytes());
                out.extend_from_slice(target.wire());
            }
        }
        // At most 6 + 255 bytes of rdata: always fits in u16.
        let rdlength = (out.len() - rdlength_at - 2) as u16;
        out[rdlength_at..rdlength_at + 2].copy_from_slice(&rdlength.to_be_bytes());
        Ok(())
    }

    fn parse(msg: &[u8], rtype: u16, rdata: std::ops::Range<usize>) -> Result<Option<Answer>> {
        let data = &msg[rdata.clone()];
        let name_at = |pos: usize| -> Result<String> {
            let (name, _) = Name::parse(msg, pos)?;
            let mut s = String::new();
            name.write_lowercase(&mut s);
            Ok(s)
        };
        let short = |what| MessageError::Truncated {
            what,
            needed: rdata.end,
            len: rdata.start + data.len(),
        };
        Ok(Some(match rtype {
            rtype::A => {
                let octets: [u8; 4] = data.try_into().map_err(|_| short("A data (4 bytes)"))?;
                Answer::A(Ipv4Addr::from(octets))
            }
            rtype::AAAA => {
                let octets: [u8; 16] =
                    data.try_into().map_err(|_| short("AAAA data (16 bytes)"))?;
                Answer::Aaaa(Ipv6Addr::from(octets))
            }
            rtype::PTR => Answer::Ptr(name_at(rdata.start)?),
            rtype::CNAME => Answer::Cname(name_at(rdata.start)?),
            rtype::SRV => {
                if data.len() < 7 {
                    return Err(short("SRV data"));
                }
                let word = |i: usize| u16::from_be_bytes([data[i], data[i + 1]]);
                Answer::Srv {
                    priority: word(0),
                    weight: word(2),
                    port: word(4),
                    target: name_at(rdata.start + 6)?,
                }
            }
            _ => return Ok(None),
        }))
    }
}

/// A record of a parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Owner name.
    pub name: Name,
    /// Record type.
    pub rtype: u16,
    /// Time to live, seconds.
    pub ttl: u32,
    /// The data, when it is one of the types of [`Answer`].
    pub answer: Option<Answer>,
}

/// A parsed response: header, question and answer section (authority and additional
/// records are validated but not kept, except the EDNS parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The header.
    pub header: Header,
    /// The question, if the response repeats one.
    pub question: Option<Question>,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The OPT record, if any.
    pub edns: Option<Edns>,
    /// The full response code (EDNS extension bits included).
    pub rcode: u16,
}

impl Response {
    /// Parses a response message.
    pub fn parse(msg: &[u8]) -> Result<Response> {
        let header = Header::parse(msg)?;
        let mut pos = HEADER_LEN;
        let mut question = None;
        for _ in 0..header.qdcount {
            let (q, next) = Question::parse(msg, pos)?;
            question.get_or_insert(q);
            pos = next;
        }
        let mut answers = Vec::with_capacity(usize::from(header.ancount.min(64)));
        for _ in 0..header.ancount {
            let r = RawRecord::parse(msg, pos)?;
            pos = r.end;
            answers.push(Record {
                answer: Answer::parse(msg, r.rtype, r.rdata)?,
                name: r.name,
                rtype: r.rtype,
                ttl: r.ttl,
            });
        }
        for _ in 0..header.nscount {
            pos = RawRecord::parse(msg, pos)?.end;
        }
        let mut edns = None;
        let mut rcode = u16::from(header.rcode());
        for _ in 0..header.arcount {
            let r = RawRecord::parse(msg, pos)?;
            pos = r.end;
            if r.rtype == rtype::OPT {
                if edns.is_some() {
                    return Err(MessageError::DuplicateOpt);
                }
                rcode |= ((r.ttl >> 24) as u16) << 4;
                edns = Some(Edns {
                    udp_payload_size: r.class,
                    version: (r.ttl >> 16) as u8,
                    dnssec_ok: r.ttl & 0x8000 != 0,
                });
            }
        }
        Ok(Response {
            header,
            question,
            answers,
            edns,
            rcode,
        })
    }
}

/// Writes the response to `query` into `out` (cleared first): ID and question copied, QR=1,
/// RD copied, RA=1, AA as given, `answers` with `ttl` as far as they fit in `max_len` (TC set
/// when some did not), and an OPT record when the query had one.
///
/// Fails only when an answer holds a name that cannot be encoded; `out` is then unspecified.
pub fn write_response(
    out: &mut Vec<u8>,
    query: &Query,
    rcode: Rcode,
    authoritative: bool,
    answers: &[Answer],
    ttl: u32,
    max_len: usize,
) -> Result<()> {
    const OPT_LEN: usize = 11;
    out.clear();
    out.resize(HEADER_LEN, 0);
    out.extend_from_slice(query.question.name.wire());
    out.extend_from_slice(&query.question.qtype.to_be_bytes());
    out.extend_from_slice(&query.question.qclass.to_be_bytes());
    let reserve = if query.edns.is_some() { OPT_LEN } else { 0 };
    let mut ancount = 0u16;
    let mut truncated = false;
    for answer in answers {
        let mark = out.len();
        answer.write_record(out, ttl)?;
        if out.len() + reserve > max_len {
            out.truncate(mark);
            truncated = true;
            break;
        }
        ancount += 1;
    }
    let code = rcode as u16;
    let mut arcount = 0;
    if query.edns.is_some() {
        // Root owner, OPT, our payload size, extended rcode | version 0 | no flags, no options.
        out.push(0);
        out.extend_from_slice(&rtype::OPT.to_be_bytes());
        out.extend_from_slice(&EDNS_UDP_LEN.to_be_bytes());
        out.extend_from_slice(&[(code >> 4) as u8, 0, 0, 0]);
        out.extend_from_slice(&[0, 0]);
        arcount = 1;
    }
    let mut flags = FLAG_QR | FLAG_RA | (query.header.flags & FLAG_RD) | (code & 0xF);
    if authoritative {
        flags |= FLAG_AA;
    }
    if truncated {
        flags |= FLAG_TC;
    }
    Header {
        id: query.header.id,
        flags,
        qdcount: 1,
        ancount,
        nscount: 0,
        arcount,
    }
    .write(&mut out[..HEADER_LEN]);
    Ok(())
}

/// Writes a question-less error response (for queries that could not be parsed): ID, opcode
/// and RD copied from `header`, QR=1, RA=1, `rcode` (must be below 16).
pub fn write_error(out: &mut Vec<u8>, header: &Header, rcode: Rcode) {
    out.clear();
    out.resize(HEADER_LEN, 0);
    let flags = FLAG_QR | FLAG_RA | (header.flags & (0x7800 | FLAG_RD)) | (rcode as u16 & 0xF);
    Header {
        id: header.id,
        flags,
        qdcount: 0,
        ancount: 0,
        nscount: 0,
        arcount: 0,
    }
    .write(out);
}

/// Builds a standard query for `name` (presentation form) and `qtype`, class IN.
pub fn build_query(id: u16, name: &str, qtype: u16, recursion_desired: bool) -> Result<Vec<u8>> {
    let name = Name::from_text(name)?;
    let mut out = vec![0; HEADER_LEN];
    Header {
        id,
        flags: if recursion_desired { FLAG_RD } else { 0 },
        qdcount: 1,
        ancount: 0,
        nscount: 0,
        arcount: 0,
    }
    .write(&mut out);
    out.extend_from_slice(name.wire());
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

/// The reverse-lookup name of an address: `4.3.2.1.in-addr.arpa` or the nibble form under
/// `ip6.arpa` (no trailing dot).
pub fn reverse_name(ip: IpAddr) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(72);
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            let _ = write!(s, "{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0]);
        }
        IpAddr::V6(v6) => {
            for b in v6.octets().iter().rev() {
                let _ = write!(s, "{:x}.{:x}.", b & 0xF, b >> 4);
            }
            s.push_str("ip6.arpa");
        }
    }
    s
}

/// The address a full reverse-lookup name stands for (case-insensitive, trailing dot
/// optional); `None` for anything else, including partial names like `17.172.in-addr.arpa`.
pub fn parse_reverse_name(name: &str) -> Option<IpAddr> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let lower = name.to_ascii_lowercase();
    if let Some(rest) = lower.strip_suffix(".in-addr.arpa") {
        let mut octets = [0u8; 4];
        let mut parts = rest.split('.');
        for i in (0..4).rev() {
            let part = parts.next()?;
            if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.starts_with('0')) {
                return None;
            }
            octets[i] = part.parse().ok()?;
        }
        return parts
            .next()
            .is_none()
            .then(|| IpAddr::V4(Ipv4Addr::from(octets)));
    }
    let rest = lower.strip_suffix(".ip6.arpa")?;
    let mut octets = [0u8; 16];
    let mut parts = rest.split('.');
    for i in (0..16).rev() {
        let low = nibble(parts.next()?)?;
        let high = nibble(parts.next()?)?;
        octets[i] = high << 4 | low;
    }
    parts
        .next()
        .is_none()
        .then(|| IpAddr::V6(Ipv6Addr::from(octets)))
}

fn nibble(s: &str) -> Option<u8> {
    match s.as_bytes() {
        [c] => char::from(*c).to_digit(16).map(|d| d as u8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn query(name: &str, qtype: u16) -> Query {
        Query::parse(&build_query(0x1234, name, qtype, true).expect("valid name"))
            .expect("query parses")
    }

    fn lower(name: &Name) -> String {
        let mut s = String::new();
        name.write_lowercase(&mut s);
        s
    }

    #[test]
    fn query_round_trip() {
        let q = query("Web.Example.TEST.", rtype::AAAA);
        assert_eq!(q.header.id, 0x1234);
        assert!(q.header.recursion_desired());
        assert_eq!(q.question.qtype, rtype::AAAA);
        assert_eq!(q.question.qclass, CLASS_IN);
        assert_eq!(lower(&q.question.name), "web.example.test");
        assert_eq!(q.question.name.to_string(), "Web.Example.TEST.");
        assert_eq!(
            q.question.name,
            Name::from_text("web.example.test").expect("valid")
        );
        assert_eq!(q.edns, None);
    }

    #[test]
    fn root_and_trailing_dot() {
        assert_eq!(Name::from_text("").expect("root").wire(), &[0]);
        assert_eq!(Name::from_text(".").expect("root").wire(), &[0]);
        assert_eq!(
            Name::from_text("a.b").expect("valid"),
            Name::from_text("A.B.").expect("valid")
        );
        assert_eq!(lower(&Name::ROOT), "");
    }

    #[test]
    fn text_escapes_round_trip() {
        let name = Name::from_text(r"a\.b\\c\000d.e").expect("valid escapes");
        assert_eq!(name.labels().count(), 2);
        assert_eq!(name.labels().next().expect("label"), b"a.b\\c\0d");
        assert_eq!(lower(&name), r"a\.b\\c\000d.e");
        assert_eq!(Name::from_text(&lower(&name)).expect("reparses"), name);
    }

    #[test]
    fn invalid_text_names() {
        let long_label = "a".repeat(64);
        assert!(Name::from_text(&long_label).is_err());
        assert!(Name::from_text(&"a".repeat(63)).is_ok());
        assert!(Name::from_text("a..b").is_err());
        assert!(Name::from_text(r"a\").is_err());
        assert!(Name::from_text(r"a\256").is_err());
        // 4 labels of 63 + dots = 4*64 + 1 = 257 bytes of wire: too long.
        let long = [&"a".repeat(63)[..]; 4].join(".");
        assert!(matches!(
            Name::from_text(&long),
            Err(MessageError::InvalidName { .. })
        ));
        // 3*64 + 62 + 1 + 1 = 255: the longest allowed.
        let max = format!("{}.{}", [&"a".repeat(63)[..]; 3].join("."), "b".repeat(61));
        assert_eq!(
            Name::from_text(&max).expect("longest name").wire().len(),
            255
        );
    }

    #[test]
    fn response_round_trip_all_types() {
        let q = query("svc.test", rtype::ANY);
        let answers = vec![
            Answer::A(Ipv4Addr::new(10, 88, 0, 2)),
            Answer::Aaaa("fd00::2".parse().expect("ipv6")),
            Answer::Ptr("web.test.".into()),
            Answer::Srv {
                priority: 1,
                weight: 2,
                port: 8080,
                target: "web.test".into(),
            },
            Answer::Cname("Other.Test".into()),
        ];
        let mut out = Vec::new();
        write_response(&mut out, &q, Rcode::NoError, true, &answers, 60, 512).expect("encodes");
        let r = Response::parse(&out).expect("parses");
        assert_eq!(r.header.id, 0x1234);
        assert!(r.header.is_response());
        assert!(r.header.authoritative());
        assert!(r.header.recursion_desired());
        assert!(r.header.recursion_available());
        assert!(!r.header.truncated());
        assert_eq!(r.rcode, 0);
        assert_eq!(r.question, Some(q.question));
        let got: Vec<Answer> = r.answers.iter().filter_map(|a| a.answer.clone()).collect();
        let want: Vec<Answer> = vec![
            answers[0].clone(),
            answers[1].clone(),
            Answer::Ptr("web.test".into()),
            Answer::Srv {
                priority: 1,
                weight: 2,
                port: 8080,
                target: "web.test".into(),
            },
            Answer::Cname("other.test".into()),
        ];
        assert_eq!(got, want);
        for rec in &r.answers {
            assert_eq!(rec.ttl, 60);
            assert_eq!(rec.name, q.question.name);
        }
    }

    #[test]
    fn rcodes_and_flags() {
        let q = query("nope.test", rtype::A);
        let mut out = Vec::new();
        write_response(&mut out, &q, Rcode::NxDomain, true, &[], 60, 512).expect("encodes");
        let r = Response::parse(&out).expect("parses");
        assert_eq!(r.header.rcode(), 3);
        assert!(r.answers.is_empty());
        write_response(&mut out, &q, Rcode::ServFail, false, &[], 60, 512).expect("encodes");
        let r = Response::parse(&out).expect("parses");
        assert_eq!(r.rcode, Rcode::ServFail as u16);
        assert!(!r.header.authoritative());

        let h =
            Header::parse(&build_query(7, "x", rtype::A, false).expect("valid")).expect("header");
        write_error(&mut out, &h, Rcode::FormErr);
        let r = Response::parse(&out).expect("parses");
        assert_eq!((r.header.id, r.rcode, r.question), (7, 1, None));
        assert!(!r.header.recursion_desired());
    }

    #[test]
    fn truncates_at_record_boundary() {
        let q = query("many.test", rtype::A);
        let answers: Vec<Answer> = (0..100)
            .map(|i| Answer::A(Ipv4Addr::new(10, 0, 0, i)))
            .collect();
        let mut out = Vec::new();
        write_response(&mut out, &q, Rcode::NoError, true, &answers, 5, 512).expect("encodes");
        assert!(out.len() <= 512);
        let r = Response::parse(&out).expect("parses");
        assert!(r.header.truncated());
        // 12 header + 15 question, 16 bytes per A record.
        assert_eq!(r.answers.len(), (512 - 12 - 15) / 16);
        write_response(&mut out, &q, Rcode::NoError, true, &answers, 5, 65535).expect("encodes");
        let r = Response::parse(&out).expect("parses");
        assert!(!r.header.truncated());
        assert_eq!(r.answers.len(), 100);
    }

    #[test]
    fn edns_is_parsed_and_echoed() {
        let mut msg = build_query(1, "a.test", rtype::A, true).expect("valid");
        msg[11] = 1; // arcount
        msg.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 0]);
        let q = Query::parse(&msg).expect("parses");
        assert_eq!(
            q.edns,
            Some(Edns {
                udp_payload_size: 4096,
                version: 0,
                dnssec_ok: true
            })
        );
        assert_eq!(q.udp_limit(), usize::from(EDNS_UDP_LEN));
        let mut out = Vec::new();
        write_response(&mut out, &q, Rcode::BadVers, true, &[], 60, 1232).expect("encodes");
        let r = Response::parse(&out).expect("parses");
        assert_eq!(r.rcode, 16);
        assert_eq!(r.header.rcode(), 0);
        assert_eq!(r.edns.map(|e| e.udp_payload_size), Some(EDNS_UDP_LEN));

        msg[11] = 2;
        msg.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Query::parse(&msg), Err(MessageError::DuplicateOpt));
    }

    #[test]
    fn compressed_names_are_followed() {
        // Response: question "a.test", answer owner pointer, CNAME data "www" + pointer to "test".
        let q = query("a.test", rtype::CNAME);
        let mut msg = Vec::new();
        write_response(&mut msg, &q, Rcode::NoError, true, &[], 1, 512).expect("encodes");
        msg[7] = 1; // ancount
        msg.extend_from_slice(&[0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 9, 0, 6]);
        msg.extend_from_slice(&[3, b'w', b'w', b'w', 0xC0, 14]);
        let r = Response::parse(&msg).expect("parses");
        assert_eq!(r.answers[0].answer, Some(Answer::Cname("www.test".into())));
        assert_eq!(lower(&r.answers[0].name), "a.test");
    }

    fn header_with_question() -> Vec<u8> {
        vec![0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
    }

    #[test]
    fn malformed_queries_are_errors() {
        assert_eq!(Query::parse(&[]), Err(MessageError::ShortHeader { len: 0 }));
        assert_eq!(
            Query::parse(&[1; 11]),
            Err(MessageError::ShortHeader { len: 11 })
        );

        // Header only: the question is missing.
        let msg = header_with_question();
        assert!(matches!(
            Query::parse(&msg),
            Err(MessageError::Truncated { .. })
        ));

        // Pointer to itself.
        let mut msg = header_with_question();
        msg.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        assert_eq!(
            Query::parse(&msg),
            Err(MessageError::PointerLoop {
                offset: 12,
                target: 12
            })
        );

        // Two pointers bouncing between each other (in an answer record).
        let mut msg = header_with_question();
        msg[7] = 1;
        msg.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]); // question at 12..19
        msg.extend_from_slice(&[1, b'b', 0xC0, 21, 0, 1, 0, 1]); // forward pointer at 21
        assert!(matches!(
            Query::parse(&msg),
            Err(MessageError::PointerLoop { .. })
        ));
        let mut msg = header_with_question();
        msg.extend_from_slice(&[1, b'a', 0xC0, 14, 0, 1, 0, 1]); // points at itself
        assert!(matches!(
            Query::parse(&msg),
            Err(MessageError::PointerLoop { .. })
        ));

        // Reserved label types 01 and 10.
        for bits in [0x40u8, 0x80] {
            let mut msg = header_with_question();
            msg.extend_from_slice(&[bits | 1, b'a', 0, 0, 1, 0, 1]);
            assert_eq!(
                Query::parse(&msg),
                Err(MessageError::BadLabelType { offset: 12, bits })
            );
        }

        // A label longer than the rest of the message.
        let mut msg = header_with_question();
        msg.extend_from_slice(&[63, b'a', b'b']);
        assert!(matches!(
            Query::parse(&msg),
            Err(MessageError::Truncated { .. })
        ));

        // Name longer than 255 bytes.
        let mut msg = header_with_question();
        for _ in 0..5 {
            msg.push(63);
            msg.extend_from_slice(&[b'x'; 63]);
        }
        msg.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(
            Query::parse(&msg),
            Err(MessageError::NameTooLong { offset: 12 })
        );

        // Missing type/class.
        let mut msg = header_with_question();
        msg.extend_from_slice(&[1, b'a', 0, 0]);
        assert!(matches!(
            Query::parse(&msg),
            Err(MessageError::Truncated { .. })
        ));

        // Response, opcode, question count.
        let mut msg = build_query(1, "a", rtype::A, true).expect("valid");
        msg[2] |= 0x80;
        assert_eq!(Query::parse(&msg), Err(MessageError::NotAQuery));
        msg[2] = 0x10; // opcode 2 (STATUS)
        assert_eq!(Query::parse(&msg), Err(MessageError::UnsupportedOpcode(2)));
        msg[2] = 0x01;
        msg[5] = 2;
        assert_eq!(Query::parse(&msg), Err(MessageError::QuestionCount(2)));
        msg[5] = 0;
        assert_eq!(Query::parse(&msg), Err(MessageError::QuestionCount(0)));

        // Additional record with rdata past the end.
        let mut msg = build_query(1, "a", rtype::A, true).expect("valid");
        msg[11] = 1;
        msg.extend_from_slice(&[0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 9, 1]);
        assert!(matches!(
            Query::parse(&msg),
            Err(MessageError::Truncated { .. })
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x05ee_dd45);
        let seeds: Vec<Vec<u8>> = {
            let q = query("web.net.test", rtype::A);
            let mut resp = Vec::new();
            let answers = [
                Answer::A(Ipv4Addr::LOCALHOST),
                Answer::Srv {
                    priority: 0,
                    weight: 0,
                    port: 1,
                    target: "x.y".into(),
                },
            ];
            write_response(&mut resp, &q, Rcode::NoError, true, &answers, 1, 512).expect("ok");
            vec![
                build_query(9, "web.net.test", rtype::A, true).expect("valid"),
                resp,
            ]
        };
        let mut buf = Vec::new();
        for i in 0..60_000u32 {
            buf.clear();
            if i % 2 == 0 {
                let len = rng.random_range(0..600);
                buf.extend((0..len).map(|_| rng.random::<u8>()));
                // Make many of them look like queries so parsing gets past the header.
                if buf.len() >= HEADER_LEN && i % 4 == 0 {
                    buf[2] &= 0x07;
                    buf[4] = 0;
                    buf[5] = 1;
                }
            } else {
                buf.extend_from_slice(&seeds[(i as usize / 2) % seeds.len()]);
                for _ in 0..rng.random_range(1..6) {
                    let at = rng.random_range(0..buf.len());
                    buf[at] = rng.random();
                }
                if rng.random_bool(0.3) {
                    let cut = rng.random_range(0..buf.len());
                    buf.truncate(cut);
                }
            }
            if let Ok(q) = Query::parse(&buf) {
                let mut out = Vec::new();
                write_response(&mut out, &q, Rcode::NoError, true, &[], 0, 512).expect("ok");
                Response::parse(&out).expect("our own response parses");
            }
            let _ = Response::parse(&buf);
        }
    }

    #[test]
    fn reverse_names() {
        let v4: IpAddr = "172.17.0.2".parse().expect("ip");
        assert_eq!(reverse_name(v4), "2.0.17.172.in-addr.arpa");
        assert_eq!(parse_reverse_name("2.0.17.172.IN-ADDR.arpa."), Some(v4));
        let v6: IpAddr = "fd00::1:2".parse().expect("ip");
        let name = reverse_name(v6);
        assert!(name.starts_with("2.0.0.0.1.0.0.0."), "{name}");
        assert_eq!(parse_reverse_name(&name), Some(v6));
        assert_eq!(parse_reverse_name(&name.to_uppercase()), Some(v6));
        for bad in [
            "17.172.in-addr.arpa",
            "1.2.0.17.172.in-addr.arpa",
            "256.0.17.172.in-addr.arpa",
            "01.0.17.172.in-addr.arpa",
            "web.test",
            "0.ip6.arpa",
            "g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
        ] {
            assert_eq!(parse_reverse_name(bad), None, "{bad}");
        }
    }
}
