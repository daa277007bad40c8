//! Declarative YAML scenarios: model, loading, templating, steps, expectations, reports.
