//! The request journal: every request the IdP answered (control API calls excluded).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// One answered request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// 1, 2, 3… in arrival order (not reset by clearing the journal).
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Query parameters (a repeated name keeps its last value).
    pub query: BTreeMap<String, String>,
    /// Headers with lower-case names (repeated headers joined with ", ").
    pub headers: BTreeMap<String, String>,
    /// Form parameters of an `application/x-www-form-urlencoded` body.
    pub form: BTreeMap<String, String>,
    /// The client authentication the request presented, on endpoints that authenticate
    /// clients: `client_secret_basic`, `client_secret_post`, `none` or `private_key_jwt`.
    pub client_auth: Option<String>,
    /// The client the request was made for.
    pub client_id: Option<String>,
    /// Response status (0 when the connection was closed without an answer).
    pub status: u16,
    /// Arrival time on the IdP's clock.
    pub at_unix: i64,
}

/// A bounded journal.
#[derive(Debug)]
pub struct Journal {
    entries: VecDeque<JournalEntry>,
    next_seq: u64,
    max: usize,
}

impl Journal {
    /// An empty journal keeping at most `max` entries.
    pub fn new(max: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            next_seq: 1,
            max: max.max(1),
        }
    }

    /// The next sequence number.
    pub fn next_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// Append, dropping the oldest entry when full.
    pub fn push(&mut self, entry: JournalEntry) {
        if self.entries.len() >= self.max {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// All entries, oldest first.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.entries.iter().cloned().collect()
    }

    /// Forget every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> JournalEntry {
        JournalEntry {
            seq,
            method: "GET".into(),
            path: "/".into(),
            query: BTreeMap::new(),
            headers: BTreeMap::new(),
            form: BTreeMap::new(),
            client_auth: None,
            client_id: None,
            status: 200,
            at_unix: 0,
        }
    }

    #[test]
    fn bounded_and_ordered() {
        let mut j = Journal::new(2);
        for _ in 0..3 {
            let s = j.next_seq();
            j.push(entry(s));
        }
        let seqs: Vec<u64> = j.entries().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![2, 3]);
        j.clear();
        assert!(j.entries().is_empty());
        assert_eq!(j.next_seq(), 4);
    }
}
