//! Server-sent events (the WHATWG `text/event-stream` format), as far as an MCP client needs:
//! split a stream into events and find the first one carrying data.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// `event:` (empty means the default type, `message`).
    pub event: String,
    /// `data:` lines joined with `\n`.
    pub data: String,
    /// `id:`, when the event set one.
    pub id: Option<String>,
}

/// The complete events in `text` (an event is complete once a blank line ends it; a trailing
/// incomplete event is not returned). Comments (`:`) and `retry:` are skipped.
pub fn parse_events(text: &str) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let mut current = SseEvent::default();
    let mut has_data = false;
    // Line terminators: CRLF, LF or CR. Only lines followed by a terminator are complete.
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut lines: Vec<&str> = normalized.split('\n').collect();
    lines.pop(); // the text after the last terminator is not a complete line
    for line in lines {
        if line.is_empty() {
            if has_data {
                events.push(std::mem::take(&mut current));
            } else {
                current = SseEvent::default();
            }
            has_data = false;
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if has_data {
                    current.data.push('\n');
                }
                current.data.push_str(value);
                has_data = true;
            }
            "event" => current.event = value.to_owned(),
            "id" if !value.contains('\0') => current.id = Some(value.to_owned()),
            _ => {}
        }
    }
    events
}

/// The first complete event that carries data.
pub fn first_data_event(text: &str) -> Option<SseEvent> {
    parse_events(text).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events() {
        let text = ": keepalive\nretry: 100\n\nevent: message\nid: 7\ndata: {\"a\":\ndata: 1}\n\ndata:x\r\n\r\ndata: incomplete";
        let events = parse_events(text);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event, "message");
        assert_eq!(events[0].id.as_deref(), Some("7"));
        assert_eq!(events[0].data, "{\"a\":\n1}");
        assert_eq!(events[1].data, "x");
        assert_eq!(first_data_event(text).unwrap().data, "{\"a\":\n1}");
    }

    #[test]
    fn incomplete_streams_have_no_event() {
        assert!(first_data_event("data: {}").is_none());
        assert!(first_data_event("data: {}\n").is_none());
        assert!(first_data_event("id: 1\n\n").is_none());
        assert_eq!(first_data_event("data: {}\n\n").unwrap().data, "{}");
    }
}
