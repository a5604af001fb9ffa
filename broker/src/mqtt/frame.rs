//! MQTT framing with a byte bound: whole packets up to a size, oversized PUBLISH bodies streamed
//! through a hash and dropped.
//!
//! rumqttd's codec refuses a packet over its limit only by closing the connection, and before
//! that a peer could make it buffer the whole body. Here the fixed header is read first: a PUBLISH
//! larger than the limit is skipped as it arrives (memory stays at one read buffer), and what the
//! dead letter needs — size, SHA-256 of the payload, its first bytes, the topic and packet id — is
//! kept. Any other packet over its (small) limit is a protocol violation.

use bytes::BytesMut;
use episante_protocol::ack::DEAD_LETTER_HEAD_BYTES;
use sha2::{Digest, Sha256};

pub const PUBLISH: u8 = 3;

/// One thing read off the wire.
#[derive(Debug)]
pub enum Frame {
    /// A whole packet, fixed header included.
    Packet(BytesMut),
    /// An oversized PUBLISH, skipped.
    Skipped(SkippedPublish),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedPublish {
    pub qos: u8,
    pub pkid: Option<u16>,
    pub topic: Option<String>,
    pub payload_bytes: u64,
    pub payload_sha256_hex: String,
    pub payload_head: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("malformed remaining length")]
    MalformedLength,
    #[error("packet type {packet_type} of {len} bytes exceeds {max}")]
    TooLarge {
        packet_type: u8,
        len: usize,
        max: usize,
    },
}

struct Skip {
    first_byte: u8,
    left: usize,
    offset: usize,
    /// The first bytes of the body: topic, packet id, payload head.
    prefix: Vec<u8>,
    hasher: Sha256,
}

impl Skip {
    fn qos(&self) -> u8 {
        (self.first_byte >> 1) & 0b11
    }

    /// Where the payload starts in the body, once the topic length is known.
    fn payload_start(&self) -> Option<usize> {
        let len = u16::from_be_bytes([*self.prefix.first()?, *self.prefix.get(1)?]) as usize;
        Some(2 + len + if self.qos() > 0 { 2 } else { 0 })
    }

    fn feed(&mut self, chunk: &[u8]) {
        let room = (DEAD_LETTER_HEAD_BYTES + 2 + 1024 + 2).saturating_sub(self.prefix.len());
        self.prefix
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
        if let Some(start) = self.payload_start() {
            let from = start.saturating_sub(self.offset).min(chunk.len());
            self.hasher.update(&chunk[from..]);
        }
        self.offset += chunk.len();
        self.left -= chunk.len();
    }

    fn finish(self) -> SkippedPublish {
        let start = self.payload_start();
        let qos = self.qos();
        let topic = start.and_then(|_| {
            let len = u16::from_be_bytes([self.prefix[0], self.prefix[1]]) as usize;
            let bytes = self.prefix.get(2..2 + len)?;
            String::from_utf8(bytes.to_vec()).ok()
        });
        let pkid = match (start, qos) {
            (Some(s), 1 | 2) => self
                .prefix
                .get(s - 2..s)
                .map(|b| u16::from_be_bytes([b[0], b[1]])),
            _ => None,
        };
        let head = start
            .and_then(|s| self.prefix.get(s..))
            .map(|h| h[..h.len().min(DEAD_LETTER_HEAD_BYTES)].to_vec())
            .unwrap_or_default();
        SkippedPublish {
            qos,
            pkid,
            topic,
            payload_bytes: (self.offset - start.unwrap_or(self.offset).min(self.offset)) as u64,
            payload_sha256_hex: hex::encode(self.hasher.finalize()),
            payload_head: head,
        }
    }
}

/// Splits a byte stream into frames; `buffer()` is where reads go.
pub struct FrameReader {
    buf: BytesMut,
    skip: Option<Skip>,
    max_publish: usize,
    max_other: usize,
}

/// `(packet type, remaining length, header length)` if the fixed header is complete.
fn fixed_header(buf: &[u8]) -> Result<Option<(u8, usize, usize)>, FrameError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    for i in 0..4 {
        let Some(&byte) = buf.get(1 + i) else {
            return Ok(None);
        };
        len |= ((byte & 0x7f) as usize) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((first >> 4, len, 2 + i)));
        }
    }
    Err(FrameError::MalformedLength)
}

impl FrameReader {
    /// `max_publish`: largest PUBLISH kept whole (remaining length); `max_other`: largest other
    /// packet.
    pub fn new(max_publish: usize, max_other: usize) -> Self {
        FrameReader {
            buf: BytesMut::with_capacity(8 * 1024),
            skip: None,
            max_publish,
            max_other,
        }
    }

    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// The next complete frame, if the buffer holds one.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            if let Some(skip) = &mut self.skip {
                let n = skip.left.min(self.buf.len());
                let chunk = self.buf.split_to(n);
                skip.feed(&chunk);
                if skip.left > 0 {
                    return Ok(None);
                }
                let done = self.skip.take().expect("skipping");
                return Ok(Some(Frame::Skipped(done.finish())));
            }
            let Some((packet_type, len, header)) = fixed_header(&self.buf)? else {
                return Ok(None);
            };
            if packet_type == PUBLISH && len > self.max_publish {
                let first_byte = self.buf[0];
                let _ = self.buf.split_to(header);
                self.skip = Some(Skip {
                    first_byte,
                    left: len,
                    offset: 0,
                    prefix: Vec::new(),
                    hasher: Sha256::new(),
                });
                continue;
            }
            if packet_type != PUBLISH && len > self.max_other {
                return Err(FrameError::TooLarge {
                    packet_type,
                    len,
                    max: self.max_other,
                });
            }
            if self.buf.len() < header + len {
                self.buf.reserve(header + len - self.buf.len());
                return Ok(None);
            }
            return Ok(Some(Frame::Packet(self.buf.split_to(header + len))));
        }
    }
}

/// QoS, topic and packet id of a whole PUBLISH packet (rumqttd keeps its QoS and id private).
pub fn publish_header(packet: &[u8]) -> Option<(u8, &str, Option<u16>)> {
    let (_, _, header) = fixed_header(packet).ok()??;
    let qos = (packet[0] >> 1) & 0b11;
    let body = &packet[header..];
    let len = u16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    let topic = std::str::from_utf8(body.get(2..2 + len)?).ok()?;
    let pkid = if qos > 0 {
        let b = body.get(2 + len..4 + len)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    } else {
        None
    };
    Some((qos, topic, pkid))
}

/// PUBACK for `pkid` (MQTT 3.1.1).
pub fn puback(pkid: u16) -> [u8; 4] {
    let [hi, lo] = pkid.to_be_bytes();
    [0x40, 0x02, hi, lo]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(topic: &str, qos: u8, pkid: u16, payload: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        body.extend_from_slice(topic.as_bytes());
        if qos > 0 {
            body.extend_from_slice(&pkid.to_be_bytes());
        }
        body.extend_from_slice(payload);
        let mut out = vec![0x30 | (qos << 1)];
        let mut len = body.len();
        loop {
            let mut byte = (len % 128) as u8;
            len /= 128;
            if len > 0 {
                byte |= 0x80;
            }
            out.push(byte);
            if len == 0 {
                break;
            }
        }
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn small_packets_come_whole_in_pieces() {
        let wire = publish("/tenants/a/readings", 1, 7, b"hello");
        let mut r = FrameReader::new(1024, 64);
        for byte in &wire[..wire.len() - 1] {
            r.buffer().extend_from_slice(&[*byte]);
            assert!(r.next_frame().unwrap().is_none());
        }
        r.buffer().extend_from_slice(&wire[wire.len() - 1..]);
        let Some(Frame::Packet(p)) = r.next_frame().unwrap() else {
            panic!("a packet")
        };
        assert_eq!(
            publish_header(&p),
            Some((1, "/tenants/a/readings", Some(7)))
        );
    }

    #[test]
    fn oversized_publish_is_skipped_with_summary_and_bounded_memory() {
        let payload = vec![b'x'; 300_000];
        let mut wire = publish("/tenants/a/readings", 1, 9, &payload);
        wire.extend_from_slice(&[0xc0, 0x00]); // PINGREQ after it
        let mut r = FrameReader::new(1024, 64);
        let mut frames = Vec::new();
        for chunk in wire.chunks(4096) {
            r.buffer().extend_from_slice(chunk);
            while let Some(f) = r.next_frame().unwrap() {
                frames.push(f);
            }
            assert!(r.buffer().capacity() < 64 * 1024, "never holds the body");
        }
        let Frame::Skipped(s) = &frames[0] else {
            panic!("skipped")
        };
        assert_eq!(s.qos, 1);
        assert_eq!(s.pkid, Some(9));
        assert_eq!(s.topic.as_deref(), Some("/tenants/a/readings"));
        assert_eq!(s.payload_bytes, payload.len() as u64);
        assert_eq!(s.payload_sha256_hex, hex::encode(Sha256::digest(&payload)));
        assert_eq!(s.payload_head.len(), DEAD_LETTER_HEAD_BYTES);
        assert!(matches!(&frames[1], Frame::Packet(p) if p[..] == [0xc0, 0x00]));
    }

    #[test]
    fn other_large_packets_and_bad_lengths_are_errors() {
        let mut r = FrameReader::new(1024, 64);
        r.buffer().extend_from_slice(&[0x82, 0xff, 0x01]); // SUBSCRIBE of 255 bytes
        assert!(matches!(r.next_frame(), Err(FrameError::TooLarge { .. })));
        let mut r = FrameReader::new(1024, 64);
        r.buffer()
            .extend_from_slice(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(r.next_frame().unwrap_err(), FrameError::MalformedLength);
    }
}
