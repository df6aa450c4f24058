//! Protobuf's wire format: keys, varints, length-delimited runs. Only the framing; what a
//! field means is the table's business.

use prost::encoding::{decode_varint, encode_varint};

pub(super) const VARINT: u8 = 0;
pub(super) const FIXED64: u8 = 1;
pub(super) const LENGTH_DELIMITED: u8 = 2;
pub(super) const FIXED32: u8 = 5;

/// A value read off the wire, before the table says what it is.
pub(super) enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    /// No Kubernetes field is a 32-bit fixed number; read only to be skipped.
    Fixed32,
}

/// Reads the fields of one message in order.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// The next field's number and value; `None` at the end.
    pub fn next_field(&mut self) -> Result<Option<(u32, Raw<'a>)>, String> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| format!("field number {}", key >> 3))?;
        if tag == 0 {
            return Err("field number 0".into());
        }
        let raw = match (key & 7) as u8 {
            VARINT => Raw::Varint(self.varint()?),
            FIXED64 => Raw::Fixed64(u64::from_le_bytes(self.take_array()?)),
            LENGTH_DELIMITED => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length overflows")?;
                Raw::Bytes(self.take(len)?)
            }
            FIXED32 => {
                self.take(4)?;
                Raw::Fixed32
            }
            other => return Err(format!("wire type {other} of field {tag} is not supported")),
        };
        Ok(Some((tag, raw)))
    }

    fn varint(&mut self) -> Result<u64, String> {
        decode_varint(&mut self.buf).map_err(|e| e.to_string())
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        if len > self.buf.len() {
            return Err(format!(
                "a field of {len} bytes runs past the end ({} left)",
                self.buf.len()
            ));
        }
        let (head, tail) = self.buf.split_at(len);
        self.buf = tail;
        Ok(head)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
}

/// Appends fields to a message.
#[derive(Default)]
pub(super) struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    fn key(&mut self, tag: u32, wire: u8) {
        encode_varint((u64::from(tag) << 3) | u64::from(wire), &mut self.buf);
    }

    pub fn varint(&mut self, tag: u32, value: u64) {
        self.key(tag, VARINT);
        encode_varint(value, &mut self.buf);
    }

    pub fn fixed64(&mut self, tag: u32, value: u64) {
        self.key(tag, FIXED64);
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    pub fn bytes(&mut self, tag: u32, value: &[u8]) {
        self.key(tag, LENGTH_DELIMITED);
        encode_varint(value.len() as u64, &mut self.buf);
        self.buf.extend_from_slice(value);
    }
}
