//! The spec index: clause id → title, URL and the requirement sentence quoted verbatim.
//!
//! One checked-in file, `scenarios/_spec/index.yaml`, embedded in the binary. Scenarios cite
//! clauses by id (`spec:` and an expectation's `clause:`); an id that is not in the index is
//! a load error, so every failure a report shows can quote what it is measured against.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The index as written.
pub const INDEX_YAML: &str = include_str!("../../scenarios/_spec/index.yaml");

/// One clause of a spec (or of authproof's own contract, `AUTHPROOF-*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    pub title: String,
    pub url: String,
    /// The requirement sentence, verbatim; absent when the index holds none yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
}

/// Every clause, by id.
pub fn index() -> &'static BTreeMap<String, Clause> {
    static INDEX: OnceLock<BTreeMap<String, Clause>> = OnceLock::new();
    INDEX.get_or_init(|| {
        // A broken index is a build defect caught by the unit test below; at run time it
        // degrades to an empty index (every citation then fails to load, naming the id).
        foundations::yaml::from_str(INDEX_YAML, "scenarios/_spec/index.yaml").unwrap_or_default()
    })
}

/// The clause with this id.
pub fn lookup(id: &str) -> Option<&'static Clause> {
    index().get(id)
}

/// Whether `id` is in the index; otherwise an error naming the closest ids.
pub fn check_id(id: &str) -> Result<(), String> {
    if lookup(id).is_some() {
        return Ok(());
    }
    // The ids sharing the longest prefix with the unknown one (at least its spec name).
    let shared = |k: &str| {
        k.chars()
            .zip(id.chars())
            .take_while(|(a, b)| a == b)
            .count()
    };
    let spec_len = id.find('-').unwrap_or(id.len());
    let mut near: Vec<&str> = index()
        .keys()
        .map(String::as_str)
        .filter(|k| shared(k) >= spec_len.max(1))
        .collect();
    near.sort_by_key(|k| std::cmp::Reverse(shared(k)));
    near.truncate(6);
    let hint = if near.is_empty() {
        String::new()
    } else {
        format!(" (known ids like it: {})", near.join(", "))
    };
    Err(format!(
        "unknown clause `{id}`: not in the spec index scenarios/_spec/index.yaml{hint}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_parses_and_is_well_formed() {
        let parsed: BTreeMap<String, Clause> =
            foundations::yaml::from_str(INDEX_YAML, "index.yaml").expect("the index parses");
        assert!(parsed.len() >= 60, "{}", parsed.len());
        assert_eq!(index().len(), parsed.len());
        for (id, c) in &parsed {
            assert!(!c.title.trim().is_empty(), "{id}: empty title");
            assert!(
                c.url.starts_with("https://") || c.url.starts_with("README.md#"),
                "{id}: {}",
                c.url
            );
            if let Some(q) = &c.quote {
                assert!(q.len() > 20, "{id}: a quote is a sentence: {q}");
            }
        }
    }

    #[test]
    fn unknown_ids_are_refused_with_neighbours() {
        assert!(check_id("RFC6749-5.2").is_ok());
        let e = check_id("RFC6749-5.9").unwrap_err();
        assert!(e.contains("unknown clause `RFC6749-5.9`"), "{e}");
        assert!(e.contains("RFC6749-5.2"), "{e}");
        assert!(lookup("RFC6749-5.2").unwrap().quote.is_some());
    }
}
