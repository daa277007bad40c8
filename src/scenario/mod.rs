//! Declarative YAML scenarios: model, loading, templating, steps, expectations, reports.
//!
//! - [`model`]: the file format (serde types, `deny_unknown_fields`);
//! - [`load`]: files and folders, includes, matrix expansion, errors with `file:line:column`;
//! - [`template`]: minijinja with strict undefined, typed single expressions;
//! - [`fixtures`]: documents and a reporting MCP backend served for a trial;
//! - [`expect`]: the matchers; [`jwt`]: JWT decoding and signatures; [`save`]: captures;
//! - [`spec`]: the spec index (clause id → title, URL, quoted requirement);
//! - [`trial`]: one trial's forward path (plan → setup → steps → verdict), [`session`] the
//!   steps, [`verdict`] the results as data; [`report`] and [`conformance`] write the text,
//!   [`matrix`] several targets' reports side by side (the README's conformance matrix).

pub mod conformance;
pub mod error;
pub mod expect;
pub mod fixtures;
pub mod jwt;
pub mod load;
pub mod matrix;
pub mod model;
pub mod profile;
pub mod record;
pub mod report;
pub mod run;
pub mod save;
pub mod session;
pub mod spec;
pub mod target;
pub mod template;
pub mod trial;
pub mod verdict;
