//! Declarative YAML scenarios: model, loading, templating, steps, expectations, reports.
//!
//! - [`model`]: the file format (serde types, `deny_unknown_fields`);
//! - [`load`]: files and folders, includes, matrix expansion, errors with `file:line:column`;
//! - [`template`]: minijinja with strict undefined, typed single expressions;
//! - [`fixtures`]: documents and a reporting MCP backend served for a trial;
//! - [`expect`]: the matchers; [`jwt`]: JWT decoding and signatures; [`save`]: captures.

pub mod expect;
pub mod fixtures;
pub mod jwt;
pub mod load;
pub mod model;
pub mod profile;
pub mod record;
pub mod report;
pub mod run;
pub mod save;
pub mod session;
pub mod target;
pub mod template;
