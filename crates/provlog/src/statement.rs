//! The log entry: a compact, signed provenance statement that commits to an EPCIS event by its
//! hash and names the products it concerns, never the event itself (no personal data: no
//! locations, people, documents or free text reach the log).
//!
//! Binary, big-endian, version 1 (docs/provenance.md, "Statements"):
//!
//! ```text
//! u8  version (1)          u8  event type (1-5)      u8  action (0 none, 1 ADD, 2 OBSERVE, 3 DELETE)
//! i64 event time, ms since 1970-01-01T00:00:00Z       i16 event time zone offset, minutes
//! u64 recorded time, ms (the log's clock when it accepted the event)
//! [32] event hash: SHA-256 of the event's RFC 8785 (JCS) form
//! u32 submitter key ID     u8 n, [n] submitter key name (UTF-8)     [64] submitter signature
//! u8 n, [n] bizStep        u8 n, [n] disposition     (empty when absent)
//! u16 count, then per identifier: u8 role, u16 n, [n] normalised identifier (UTF-8)
//! ```
//!
//! Identifiers are sorted by (role, text) and unique; decoding accepts exactly the bytes
//! encoding produces, so one statement has one encoding. The submitter signs
//! `"elevenfold/provenance/event/v1\n" || event hash` with Ed25519 ([`signed_message`]).

use std::fmt;

use provenance::{ENTRY_SIZE_MAX, Hash};

/// The statement format version this code writes and reads.
pub const STATEMENT_VERSION: u8 = 1;

/// The prefix of the message a submitter signs (then the 32-byte event hash).
pub const SIGNED_MESSAGE_PREFIX: &[u8] = b"elevenfold/provenance/event/v1\n";

/// The five EPCIS 2.0 event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    Object = 1,
    Aggregation = 2,
    Transformation = 3,
    Transaction = 4,
    Association = 5,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::Object,
        EventType::Aggregation,
        EventType::Transformation,
        EventType::Transaction,
        EventType::Association,
    ];

    /// The EPCIS `type` value.
    pub fn name(self) -> &'static str {
        match self {
            EventType::Object => "ObjectEvent",
            EventType::Aggregation => "AggregationEvent",
            EventType::Transformation => "TransformationEvent",
            EventType::Transaction => "TransactionEvent",
            EventType::Association => "AssociationEvent",
        }
    }

    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.name() == name)
    }

    fn from_code(code: u8) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| *t as u8 == code)
    }
}

/// The EPCIS `action` (absent on a TransformationEvent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    None = 0,
    Add = 1,
    Observe = 2,
    Delete = 3,
}

impl Action {
    /// The EPCIS value, or `""` for none.
    pub fn name(self) -> &'static str {
        match self {
            Action::None => "",
            Action::Add => "ADD",
            Action::Observe => "OBSERVE",
            Action::Delete => "DELETE",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        [Action::Add, Action::Observe, Action::Delete]
            .into_iter()
            .find(|a| a.name() == name)
    }

    fn from_code(code: u8) -> Option<Action> {
        [Action::None, Action::Add, Action::Observe, Action::Delete]
            .into_iter()
            .find(|a| *a as u8 == code)
    }
}

/// Where an identifier appears in its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `epcList`.
    Epc = 1,
    /// `parentID`.
    Parent = 2,
    /// `childEPCs`.
    Child = 3,
    /// `inputEPCList`.
    Input = 4,
    /// `outputEPCList`.
    Output = 5,
    /// `epcClass` of a quantity list (a product class or lot, not one item).
    Class = 6,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Epc,
        Role::Parent,
        Role::Child,
        Role::Input,
        Role::Output,
        Role::Class,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Epc => "epc",
            Role::Parent => "parent",
            Role::Child => "child",
            Role::Input => "input",
            Role::Output => "output",
            Role::Class => "class",
        }
    }

    fn from_code(code: u8) -> Option<Role> {
        Role::ALL.into_iter().find(|r| *r as u8 == code)
    }
}

/// One product identifier of a statement.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identifier {
    pub role: Role,
    /// Normalised ([`crate::gs1::normalize`]).
    pub id: String,
}

/// A provenance statement (see the module documentation for its encoding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub event_type: EventType,
    pub action: Action,
    pub event_time_ms: i64,
    pub event_time_zone_offset_minutes: i16,
    pub recorded_ms: u64,
    pub event_hash: Hash,
    pub submitter_key_id: u32,
    pub submitter: String,
    pub signature: [u8; 64],
    pub biz_step: String,
    pub disposition: String,
    /// Sorted by (role, id), unique.
    pub identifiers: Vec<Identifier>,
}

/// Why bytes are not a statement, or a statement cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementError {
    /// The bytes end inside a field.
    Truncated,
    /// A version this code does not read.
    Version(u8),
    EventType(u8),
    Action(u8),
    Role(u8),
    /// A text field is not UTF-8.
    Utf8,
    /// Identifiers not sorted and unique, or an empty one.
    Identifiers,
    /// Bytes after the last identifier.
    Trailing,
    /// A text field is longer than its length prefix allows.
    FieldTooLong {
        field: &'static str,
    },
    /// The statement is longer than a log entry may be (65,535 bytes).
    TooLarge {
        size: usize,
    },
}

impl fmt::Display for StatementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatementError::Truncated => write!(f, "statement truncated"),
            StatementError::Version(v) => write!(f, "statement version {v} is not supported"),
            StatementError::EventType(t) => write!(f, "unknown event type code {t}"),
            StatementError::Action(a) => write!(f, "unknown action code {a}"),
            StatementError::Role(r) => write!(f, "unknown identifier role code {r}"),
            StatementError::Utf8 => write!(f, "a statement text field is not UTF-8"),
            StatementError::Identifiers => {
                write!(f, "identifiers are not sorted, unique and non-empty")
            }
            StatementError::Trailing => write!(f, "bytes after the statement"),
            StatementError::FieldTooLong { field } => write!(f, "{field} is too long"),
            StatementError::TooLarge { size } => {
                write!(
                    f,
                    "statement of {size} bytes exceeds the 65535-byte entry limit"
                )
            }
        }
    }
}

impl std::error::Error for StatementError {}

/// The message a submitter signs for an event with hash `event_hash`.
pub fn signed_message(event_hash: &Hash) -> Vec<u8> {
    let mut message = SIGNED_MESSAGE_PREFIX.to_vec();
    message.extend_from_slice(event_hash);
    message
}

fn put_short_text(
    out: &mut Vec<u8>,
    text: &str,
    field: &'static str,
) -> Result<(), StatementError> {
    let length = u8::try_from(text.len()).map_err(|_| StatementError::FieldTooLong { field })?;
    out.push(length);
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

impl Statement {
    /// Sorts and deduplicates the identifiers (the canonical order `encode` requires).
    pub fn normalize_identifiers(&mut self) {
        self.identifiers.sort();
        self.identifiers.dedup();
    }

    /// The entry bytes. Fails if a field does not fit its length prefix or the statement
    /// exceeds an entry's 65,535 bytes; panics if the identifiers are not in canonical order
    /// (call [`Statement::normalize_identifiers`]).
    pub fn encode(&self) -> Result<Vec<u8>, StatementError> {
        assert!(
            self.identifiers.windows(2).all(|w| w[0] < w[1]),
            "identifiers must be sorted and unique"
        );
        let mut out = Vec::with_capacity(
            160 + self
                .identifiers
                .iter()
                .map(|i| 3 + i.id.len())
                .sum::<usize>(),
        );
        out.push(STATEMENT_VERSION);
        out.push(self.event_type as u8);
        out.push(self.action as u8);
        out.extend_from_slice(&self.event_time_ms.to_be_bytes());
        out.extend_from_slice(&self.event_time_zone_offset_minutes.to_be_bytes());
        out.extend_from_slice(&self.recorded_ms.to_be_bytes());
        out.extend_from_slice(&self.event_hash);
        out.extend_from_slice(&self.submitter_key_id.to_be_bytes());
        put_short_text(&mut out, &self.submitter, "submitter")?;
        out.extend_from_slice(&self.signature);
        put_short_text(&mut out, &self.biz_step, "bizStep")?;
        put_short_text(&mut out, &self.disposition, "disposition")?;
        let count =
            u16::try_from(self.identifiers.len()).map_err(|_| StatementError::FieldTooLong {
                field: "identifiers",
            })?;
        out.extend_from_slice(&count.to_be_bytes());
        for identifier in &self.identifiers {
            if identifier.id.is_empty() {
                return Err(StatementError::Identifiers);
            }
            out.push(identifier.role as u8);
            let length =
                u16::try_from(identifier.id.len()).map_err(|_| StatementError::FieldTooLong {
                    field: "identifier",
                })?;
            out.extend_from_slice(&length.to_be_bytes());
            out.extend_from_slice(identifier.id.as_bytes());
        }
        if out.len() > ENTRY_SIZE_MAX {
            return Err(StatementError::TooLarge { size: out.len() });
        }
        Ok(out)
    }

    /// Parses entry bytes, strictly: only what [`Statement::encode`] writes is accepted.
    pub fn decode(bytes: &[u8]) -> Result<Statement, StatementError> {
        let mut reader = Reader { bytes, position: 0 };
        let version = reader.u8()?;
        if version != STATEMENT_VERSION {
            return Err(StatementError::Version(version));
        }
        let code = reader.u8()?;
        let event_type = EventType::from_code(code).ok_or(StatementError::EventType(code))?;
        let code = reader.u8()?;
        let action = Action::from_code(code).ok_or(StatementError::Action(code))?;
        let event_time_ms = i64::from_be_bytes(reader.array()?);
        let event_time_zone_offset_minutes = i16::from_be_bytes(reader.array()?);
        let recorded_ms = u64::from_be_bytes(reader.array()?);
        let event_hash: Hash = reader.array()?;
        let submitter_key_id = u32::from_be_bytes(reader.array()?);
        let submitter = reader.short_text()?;
        let signature: [u8; 64] = reader.array()?;
        let biz_step = reader.short_text()?;
        let disposition = reader.short_text()?;
        let count = u16::from_be_bytes(reader.array()?);
        let mut identifiers: Vec<Identifier> = Vec::with_capacity(usize::from(count).min(1024));
        for _ in 0..count {
            let code = reader.u8()?;
            let role = Role::from_code(code).ok_or(StatementError::Role(code))?;
            let length = u16::from_be_bytes(reader.array()?);
            let id = reader.text(usize::from(length))?;
            let identifier = Identifier { role, id };
            if identifier.id.is_empty() || identifiers.last().is_some_and(|l| *l >= identifier) {
                return Err(StatementError::Identifiers);
            }
            identifiers.push(identifier);
        }
        if reader.position != bytes.len() {
            return Err(StatementError::Trailing);
        }
        Ok(Statement {
            event_type,
            action,
            event_time_ms,
            event_time_zone_offset_minutes,
            recorded_ms,
            event_hash,
            submitter_key_id,
            submitter,
            signature,
            biz_step,
            disposition,
            identifiers,
        })
    }

    /// Whether the statement names product `key` (normalised) in any role.
    pub fn names(&self, key: &str) -> bool {
        self.identifiers.iter().any(|i| i.id == key)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Reader<'_> {
    fn take(&mut self, count: usize) -> Result<&[u8], StatementError> {
        let end = self
            .position
            .checked_add(count)
            .ok_or(StatementError::Truncated)?;
        let slice = self
            .bytes
            .get(self.position..end)
            .ok_or(StatementError::Truncated)?;
        self.position = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, StatementError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StatementError> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }

    fn text(&mut self, length: usize) -> Result<String, StatementError> {
        let bytes = self.take(length)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| StatementError::Utf8)
    }

    fn short_text(&mut self) -> Result<String, StatementError> {
        let length = self.u8()?;
        self.text(usize::from(length))
    }
}

/// Index keys of a statement entry: `id:<identifier>` for each product it names and
/// `ev:<event hash>` (duplicate detection). Entries that are not statements have no keys.
///
/// Called for every entry at append and at open, so it walks the bytes without allocating a
/// [`Statement`]; it accepts exactly what [`Statement::decode`] accepts (checked by
/// `keys_agree_with_decode`).
pub fn statement_keys(entry: &[u8], emit: &mut dyn FnMut(&[u8])) {
    if let Some((event_hash, identifiers)) = key_fields(entry) {
        let mut key = Vec::with_capacity(64);
        let mut rest = identifiers;
        while let [_role, high, low, tail @ ..] = rest {
            let length = usize::from(u16::from_be_bytes([*high, *low]));
            key.clear();
            key.extend_from_slice(b"id:");
            key.extend_from_slice(&tail[..length]);
            emit(&key);
            rest = &tail[length..];
        }
        key.clear();
        key.extend_from_slice(b"ev:");
        key.extend_from_slice(event_hash);
        emit(&key);
    }
}

/// The event hash and the identifier records of a statement that [`Statement::decode`] would
/// accept, without allocating.
fn key_fields(entry: &[u8]) -> Option<(&[u8], &[u8])> {
    // Fixed fields up to the submitter name: version, type, action, times, hash, key ID.
    const FIXED: usize = 3 + 8 + 2 + 8 + 32 + 4;
    if entry.len() < FIXED
        || entry[0] != STATEMENT_VERSION
        || EventType::from_code(entry[1]).is_none()
        || Action::from_code(entry[2]).is_none()
    {
        return None;
    }
    let event_hash = &entry[21..53];
    let mut position = FIXED;
    let text = |position: &mut usize, length: usize| -> Option<()> {
        let bytes = entry.get(*position..position.checked_add(length)?)?;
        std::str::from_utf8(bytes).ok()?;
        *position += length;
        Some(())
    };
    let name_length = usize::from(*entry.get(position)?);
    position += 1;
    text(&mut position, name_length)?;
    position = position.checked_add(64).filter(|&p| p <= entry.len())?;
    for _ in 0..2 {
        let length = usize::from(*entry.get(position)?);
        position += 1;
        text(&mut position, length)?;
    }
    let count = u16::from_be_bytes(entry.get(position..position + 2)?.try_into().ok()?);
    position += 2;
    let identifiers_start = position;
    let mut previous: Option<(u8, &[u8])> = None;
    for _ in 0..count {
        let role = *entry.get(position)?;
        Role::from_code(role)?;
        let length = usize::from(u16::from_be_bytes(
            entry.get(position + 1..position + 3)?.try_into().ok()?,
        ));
        let id = entry.get(position + 3..position + 3 + length)?;
        std::str::from_utf8(id).ok()?;
        // Sorted by (role, text) and unique, as `Identifier`'s order (role, then the string's
        // bytes) requires.
        if id.is_empty() || previous.is_some_and(|p| p >= (role, id)) {
            return None;
        }
        previous = Some((role, id));
        position += 3 + length;
    }
    (position == entry.len()).then(|| (event_hash, &entry[identifiers_start..]))
}

/// The index key of a product identifier (normalised).
pub fn product_key(identifier: &str) -> Vec<u8> {
    let mut key = b"id:".to_vec();
    key.extend_from_slice(identifier.as_bytes());
    key
}

/// The index key of an event hash.
pub fn event_key(event_hash: &Hash) -> Vec<u8> {
    let mut key = b"ev:".to_vec();
    key.extend_from_slice(event_hash);
    key
}
