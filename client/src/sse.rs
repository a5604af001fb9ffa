//! A Server-Sent Events parser fed with whatever chunks the network delivers.
//!
//! Chunks split lines (and UTF-8 characters) anywhere, so bytes are buffered until a full line is
//! there. Only what the alerts stream uses is interpreted: `id`, `event`, `data` (several lines
//! joined with `\n`), comments (the keep-alives) and the blank line that ends an event.

/// One complete event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// Adds bytes; returns the events they complete.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(event) = self.line(line) {
                events.push(event);
            }
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let data = self.data.take()?;
            return Some(SseEvent {
                id: self.id.take(),
                event: self.event.take(),
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "id" => self.id = Some(value.to_string()),
            "event" => self.event = Some(value.to_string()),
            "data" => match self.data.as_mut() {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_are_reassembled() {
        let text = ": keep-alive\n\nid: 7\nevent: alert\ndata: {\"a\":\"é\"}\n\nid: 8\r\nevent: alert\r\ndata: x\r\ndata: y\r\n\r\n";
        let bytes = text.as_bytes();
        for split in 0..bytes.len() {
            let mut parser = SseParser::default();
            let mut events = parser.feed(&bytes[..split]);
            events.extend(parser.feed(&bytes[split..]));
            assert_eq!(
                events,
                vec![
                    SseEvent {
                        id: Some("7".into()),
                        event: Some("alert".into()),
                        data: "{\"a\":\"é\"}".into()
                    },
                    SseEvent {
                        id: Some("8".into()),
                        event: Some("alert".into()),
                        data: "x\ny".into()
                    },
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn an_unfinished_event_is_held_back() {
        let mut parser = SseParser::default();
        assert!(parser.feed(b"id: 1\ndata: {}\n").is_empty());
        assert_eq!(parser.feed(b"\n").len(), 1);
    }
}
