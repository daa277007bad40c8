//! Finding, parsing and checking scenario files: folders are walked for `*.yaml` / `*.yml`
//! (the folder a file sits in is its `area`; names starting with `_` are include files and
//! are not scenarios), includes are resolved relative to the including file, and the matrix
//! is expanded into variants. Every error names `file:line:column` and says what was expected.

use super::model::{Action, Expect, ExpectAt, IncludeFile, Located, Scenario, Step, is_template};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A load error with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file, as it was named (relative paths stay relative).
    pub file: String,
    /// 1-based, 0 when unknown.
    pub line: u64,
    /// 1-based, 0 when unknown.
    pub column: u64,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

impl std::error::Error for LoadError {}

impl LoadError {
    pub fn new(file: &Path, line: u64, column: u64, message: impl Into<String>) -> Self {
        LoadError {
            file: file.display().to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    fn at<T>(file: &Path, loc: &Located<T>, message: impl Into<String>) -> Self {
        Self::new(
            file,
            loc.referenced.line(),
            loc.referenced.column(),
            message,
        )
    }

    fn from_yaml(e: foundations::yaml::YamlError) -> Self {
        LoadError {
            file: e.origin,
            line: e.line,
            column: e.column,
            message: clean_message(&e.message),
        }
    }
}

/// serde-saphyr repeats the place at the end of some messages (`… at line 3, column 5`); the
/// place is already in front of ours. Unknown fields also get a friendlier wording.
pub fn clean_message(message: &str) -> String {
    let mut m = message.trim().to_string();
    if let Some(i) = m.rfind(" at line ")
        && m[i + 9..]
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == ' ' || c.is_ascii_alphabetic())
    {
        m.truncate(i);
    }
    if m.starts_with("unknown field")
        && let Some(i) = m.find(", expected one of ")
    {
        let list = m[i + ", expected one of ".len()..].to_string();
        let fields: Vec<String> = list
            .split(", ")
            .map(|f| format!("`{}`", f.trim_matches('`')))
            .collect();
        m = format!("{}; expected one of: {}", &m[..i], fields.join(", "));
    }
    m
}

/// One variant of a scenario: the matrix values it runs with.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Variant {
    /// `k=v,k=v` in the matrix's order; empty without a matrix.
    pub name: String,
    pub values: Vec<(String, Value)>,
}

/// A parsed, checked scenario file.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// `area::stem`.
    pub id: String,
    pub area: String,
    pub path: PathBuf,
    pub scenario: Arc<Scenario>,
    /// Every include file reachable from the scenario, by canonical path.
    pub includes: Arc<BTreeMap<PathBuf, (PathBuf, Arc<IncludeFile>)>>,
    pub variants: Vec<Variant>,
}

impl LoadedScenario {
    /// The trial name of a variant: `area::stem` or `area::stem[k=v,k=v]`.
    pub fn trial_name(&self, variant: &Variant) -> String {
        if variant.name.is_empty() {
            self.id.clone()
        } else {
            format!("{}[{}]", self.id, variant.name)
        }
    }
}

/// What loading a file produced: a scenario, or an error that becomes a failing trial.
#[derive(Debug, Clone)]
pub enum Loaded {
    Ok(Arc<LoadedScenario>),
    Err { id: String, error: LoadError },
}

impl Loaded {
    pub fn id(&self) -> &str {
        match self {
            Loaded::Ok(s) => &s.id,
            Loaded::Err { id, .. } => id,
        }
    }
}

/// Scenario files under the given paths, sorted, with their areas.
pub fn find_files(paths: &[PathBuf]) -> Result<Vec<(String, PathBuf)>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| LoadError::new(p, 0, 0, format!("cannot read: {e}")))?;
        if meta.is_file() {
            out.push((area_of(p), p.clone()));
        } else {
            walk(p, &mut out)?;
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out.dedup_by(|a, b| a.1 == b.1);
    Ok(out)
}

fn area_of(file: &Path) -> String {
    file.parent()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != ".")
        .unwrap_or_else(|| "scenarios".to_string())
}

fn is_yaml(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    )
}

fn hidden_or_private(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('_') || n.starts_with('.'))
}

fn walk(dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), LoadError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| LoadError::new(dir, 0, 0, format!("cannot read: {e}")))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if hidden_or_private(&p) {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_yaml(&p) {
            out.push((area_of(&p), p));
        }
    }
    Ok(())
}

/// Load every scenario under `paths`. A file that cannot be parsed is an `Err` entry (the
/// caller turns it into a failing trial); only an unreadable PATH is a hard error.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Loaded>, LoadError> {
    let files = find_files(paths)?;
    Ok(files
        .into_iter()
        .map(|(area, path)| load_file(&area, &path))
        .collect())
}

/// The trial id of a file: `area::stem`.
pub fn id_of(area: &str, path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{area}::{stem}")
}

/// Load one scenario file.
pub fn load_file(area: &str, path: &Path) -> Loaded {
    let id = id_of(area, path);
    match load_scenario(area, path) {
        Ok(s) => Loaded::Ok(Arc::new(s)),
        Err(error) => Loaded::Err { id, error },
    }
}

fn load_scenario(area: &str, path: &Path) -> Result<LoadedScenario, LoadError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadError::new(path, 0, 0, format!("cannot read file: {e}")))?;
    let scenario = parse_scenario(&text, path)?;
    let mut includes = BTreeMap::new();
    let mut stack = vec![canonical(path)];
    check_steps(path, &scenario.steps, &mut includes, &mut stack)?;
    check_steps(path, &scenario.teardown, &mut includes, &mut stack)?;
    let variants = expand_matrix(&scenario, path)?;
    Ok(LoadedScenario {
        id: id_of(area, path),
        area: area.to_string(),
        path: path.to_path_buf(),
        scenario: Arc::new(scenario),
        includes: Arc::new(includes),
        variants,
    })
}

/// Parse scenario text (from `path`) and check what the types cannot.
pub fn parse_scenario(text: &str, path: &Path) -> Result<Scenario, LoadError> {
    let origin = path.display().to_string();
    let scenario: Scenario =
        foundations::yaml::from_str(text, &origin).map_err(LoadError::from_yaml)?;
    if scenario.name.trim().is_empty() {
        return Err(LoadError::new(path, 1, 1, "`name` must not be empty"));
    }
    for id in &scenario.spec {
        super::spec::check_id(&id.value).map_err(|m| LoadError::at(path, id, m))?;
    }
    let r = &scenario.requires;
    for a in &r.architecture {
        super::profile::check_architecture_term(&a.value)
            .map_err(|m| LoadError::at(path, a, format!("requires.architecture: {m}")))?;
    }
    let own_config = r.features.iter().any(|f| f == "own_config");
    if own_config && r.reason.as_deref().is_none_or(|s| s.trim().is_empty()) {
        return Err(LoadError::new(
            path,
            0,
            0,
            "requires: `features: [own_config]` needs a `reason`: what the scenario configures \
             that the profile of an external target cannot state",
        ));
    }
    if !own_config && r.reason.is_some() {
        return Err(LoadError::new(
            path,
            0,
            0,
            "requires: `reason` explains `features: [own_config]`, which this scenario does \
             not list",
        ));
    }
    for (key, values) in scenario.matrix.iter() {
        if !is_identifier(key) {
            return Err(LoadError::new(
                path,
                0,
                0,
                format!("matrix: `{key}` is not a valid variable name (letters, digits, `_`)"),
            ));
        }
        if RESERVED.contains(&key.as_str()) {
            return Err(LoadError::new(
                path,
                0,
                0,
                format!(
                    "matrix: `{key}` is a reserved name ({})",
                    RESERVED.join(", ")
                ),
            ));
        }
        if values.is_empty() {
            return Err(LoadError::new(
                path,
                0,
                0,
                format!("matrix: `{key}` needs at least one value"),
            ));
        }
    }
    Ok(scenario)
}

/// Names the runner defines itself.
pub const RESERVED: &[&str] = &[
    "env", "proxy", "idp", "flow", "scenario", "variant", "inputs",
];

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Where an include named in `from` lives.
pub fn resolve_include(from: &Path, file: &str) -> PathBuf {
    from.parent().unwrap_or(Path::new(".")).join(file)
}

type Includes = BTreeMap<PathBuf, (PathBuf, Arc<IncludeFile>)>;

fn check_steps(
    file: &Path,
    steps: &[Located<Step>],
    includes: &mut Includes,
    stack: &mut Vec<PathBuf>,
) -> Result<(), LoadError> {
    for step in steps {
        check_step(file, step)?;
        if let Action::Include(inc) = &step.value.action {
            if is_template(&inc.file) {
                return Err(LoadError::at(
                    file,
                    step,
                    "include: `file` cannot be a template (includes are loaded before running)",
                ));
            }
            let target = resolve_include(file, &inc.file);
            let key = canonical(&target);
            if stack.contains(&key) {
                return Err(LoadError::at(
                    file,
                    step,
                    format!("include: `{}` includes itself (cycle)", inc.file),
                ));
            }
            if !includes.contains_key(&key) {
                let text = std::fs::read_to_string(&target).map_err(|e| {
                    LoadError::at(
                        file,
                        step,
                        format!("include: cannot read `{}`: {e}", target.display()),
                    )
                })?;
                let origin = target.display().to_string();
                let parsed: IncludeFile =
                    foundations::yaml::from_str(&text, &origin).map_err(LoadError::from_yaml)?;
                for (name, _) in parsed.inputs.iter().chain(parsed.outputs.iter()) {
                    if !is_identifier(name) || RESERVED.contains(&name.as_str()) {
                        return Err(LoadError::new(
                            &target,
                            0,
                            0,
                            format!("`{name}` cannot be an input or output name"),
                        ));
                    }
                }
                stack.push(key.clone());
                check_steps(&target, &parsed.steps, includes, stack)?;
                stack.pop();
                includes.insert(key.clone(), (target.clone(), Arc::new(parsed)));
            }
            let (_, parsed) = &includes[&key];
            for (name, _) in inc.with.iter() {
                if parsed.inputs.get(name).is_none() {
                    let known: Vec<String> =
                        parsed.inputs.keys().map(|k| format!("`{k}`")).collect();
                    return Err(LoadError::at(
                        file,
                        step,
                        format!(
                            "include `{}`: unknown input `{name}`; expected one of: {}",
                            inc.file,
                            if known.is_empty() {
                                "(none)".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
            }
            for (name, default) in parsed.inputs.iter() {
                if default.is_null() && inc.with.get(name).is_none() {
                    return Err(LoadError::at(
                        file,
                        step,
                        format!("include `{}`: input `{name}` is required", inc.file),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_step(file: &Path, step: &Located<Step>) -> Result<(), LoadError> {
    let s = &step.value;
    for (name, source) in s.save.iter() {
        if !is_identifier(name) || RESERVED.contains(&name.as_str()) {
            return Err(LoadError::at(
                file,
                step,
                format!(
                    "save: `{name}` cannot be a variable name (letters, digits, `_`; not {})",
                    RESERVED.join(", ")
                ),
            ));
        }
        if !is_template(source) {
            super::save::parse_source(source)
                .map_err(|e| LoadError::at(file, step, format!("save `{name}`: {e}")))?;
        }
    }
    for (expect, at) in s.expect.iter().zip(&s.expect_at) {
        check_expect(
            file,
            step,
            expect,
            at,
            "",
            matches!(s.action, Action::IdpJournal(_)),
        )?;
    }
    if let Some(retry) = &s.retry
        && let Some(d) = &retry.delay
    {
        parse_duration(d).map_err(|e| LoadError::at(file, step, format!("retry.delay: {e}")))?;
    }
    if let Action::IdpClock(clock) = &s.action {
        let set = [
            clock.advance.is_some(),
            clock.freeze.is_some(),
            clock.resume.is_some(),
            clock.set.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if set != 1 {
            return Err(LoadError::at(
                file,
                step,
                "idp.clock: give exactly one of `advance`, `freeze`, `resume`, `set`",
            ));
        }
        if let Some(super::model::Tmpl::Lit(d)) = &clock.advance {
            parse_duration(d)
                .map_err(|e| LoadError::at(file, step, format!("idp.clock.advance: {e}")))?;
        }
    }
    Ok(())
}

/// One expectation's static checks; `prefix` names an `any_of` alternative's fields
/// (`any_of[0] `) as [`ExpectAt`] records them.
fn check_expect(
    file: &Path,
    step: &Located<Step>,
    e: &Expect,
    at: &ExpectAt,
    prefix: &str,
    is_journal: bool,
) -> Result<(), LoadError> {
    // An error points at the field when the loader knows its place, else at the step.
    let place = |what: &str, message: String| match at.place_of(&format!("{prefix}{what}")) {
        Some(l) => LoadError::new(file, l.line(), l.column(), message),
        None => LoadError::at(file, step, message),
    };
    if let Some(clause) = &e.clause
        && !is_template(&clause.value)
    {
        super::spec::check_id(&clause.value).map_err(|m| LoadError::at(file, clause, m))?;
    }
    for a in &e.assumes {
        super::profile::check_architecture_term(&a.value)
            .map_err(|m| LoadError::at(file, a, format!("expect.assumes: {m}")))?;
    }
    if !is_journal
        && (!e.form.is_empty()
            || !e.query.is_empty()
            || e.client_auth.is_some()
            || e.count.is_some())
    {
        return Err(LoadError::at(
            file,
            step,
            "expect: `form`, `query`, `client_auth` and `count` apply to `idp.journal` steps; \
             on other steps use `expect.journal: { path, form, … }`",
        ));
    }
    if let Some(status) = &e.status
        && !contains_template(status)
    {
        super::expect::StatusMatcher::parse(status)
            .map_err(|m| place("status", format!("expect.status: {m}")))?;
    }
    for (path, _) in e.json.iter() {
        if !is_template(path) {
            serde_json_path::JsonPath::parse(path).map_err(|err| {
                place(
                    &format!("json {path}"),
                    format!("expect.json: `{path}` is not a JSONPath: {err}"),
                )
            })?;
        }
    }
    for (i, alt) in e.any_of.iter().enumerate() {
        let inner = format!("{prefix}any_of[{i}] ");
        if alt.level.is_some() || alt.clause.is_some() || !alt.assumes.is_empty() {
            return Err(place(
                &format!("any_of[{i}]"),
                format!(
                    "expect.any_of[{i}]: an alternative takes the level, clause and assumptions \
                     of its expectation; give `level`, `clause` and `assumes` next to `any_of`"
                ),
            ));
        }
        check_expect(file, step, alt, at, &inner, is_journal)?;
    }
    Ok(())
}

fn contains_template(v: &Value) -> bool {
    match v {
        Value::String(s) => is_template(s),
        Value::Array(a) => a.iter().any(contains_template),
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| is_template(k) || contains_template(v)),
        _ => false,
    }
}

/// Every combination of the matrix values, in the order written.
pub fn expand_matrix(scenario: &Scenario, path: &Path) -> Result<Vec<Variant>, LoadError> {
    let mut variants = vec![Variant::default()];
    for (key, values) in scenario.matrix.iter() {
        let mut next = Vec::with_capacity(variants.len() * values.len());
        for v in &variants {
            for value in values {
                let mut values = v.values.clone();
                values.push((key.clone(), value.clone()));
                let label = format!("{key}={}", display_value(value));
                let name = if v.name.is_empty() {
                    label
                } else {
                    format!("{},{label}", v.name)
                };
                next.push(Variant { name, values });
            }
        }
        variants = next;
    }
    let mut seen = HashSet::new();
    for v in &variants {
        if !seen.insert(v.name.clone()) {
            return Err(LoadError::new(
                path,
                0,
                0,
                format!("matrix: two variants are both named `{}`", v.name),
            ));
        }
    }
    Ok(variants)
}

/// A matrix value as it appears in a trial name.
pub fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `500ms`, `30s`, `5m`, `1h`, `2d`, and sums such as `1h30m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let mut total_ms: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!(
                "`{s}` is not a duration (expected e.g. 30s, 5m, 1h, 1h30m, 500ms)"
            ));
        }
        let n: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{s}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.chars().take_while(|c| c.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms = match unit {
            "ms" => 1,
            "s" | "" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            other => {
                return Err(format!(
                    "`{s}`: unknown unit `{other}` (expected ms, s, m, h or d)"
                ));
            }
        };
        total_ms = total_ms.saturating_add(n.saturating_mul(ms));
        if unit.is_empty() && !rest.is_empty() {
            return Err(format!("`{s}` is not a duration"));
        }
    }
    let ms = u64::try_from(total_ms).map_err(|_| format!("`{s}`: too long"))?;
    Ok(std::time::Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new() -> Self {
            let p = std::env::temp_dir().join(format!("authproof-load-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(p.join("area")).unwrap();
            TempDir(p)
        }
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            p
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn err(text: &str) -> LoadError {
        let d = TempDir::new();
        let p = d.write("area/s.yaml", text);
        match load_file("area", &p) {
            Loaded::Err { error, .. } => error,
            Loaded::Ok(_) => panic!("expected an error for:\n{text}"),
        }
    }

    #[test]
    fn step_typo_names_place_and_valid_fields() {
        let e = err("name: x\nsteps:\n  - register: {}\n  - reigster: { redirect_uris: [] }\n");
        assert!(e.file.ends_with("s.yaml"), "{e}");
        assert_eq!((e.line, e.column), (4, 5), "{e}");
        assert!(e.message.contains("unknown field `reigster`"), "{e}");
        assert!(e.message.contains("`register`"), "{e}");
        assert!(e.message.contains("`authorize`"), "{e}");
        assert!(e.message.contains("`idp.journal`"), "{e}");
        assert!(!e.message.contains(" at line "), "{e}");
    }

    #[test]
    fn top_level_and_nested_typos() {
        let e = err("name: x\nstep:\n  - register: {}\n");
        assert_eq!((e.line, e.column), (2, 1), "{e}");
        assert!(e.message.contains("`steps`"), "{e}");
        let e =
            err("name: x\nsteps:\n  - authorize:\n      client_id: a\n      consnet: approve\n");
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("`consent`"), "{e}");
        let e = err("name: x\nsteps:\n  - register: {}\n    expect:\n      stauts: 201\n");
        assert_eq!((e.line, e.column), (5, 7), "{e}");
        assert!(e.message.contains("`status`"), "{e}");
    }

    #[test]
    fn wrong_values_are_located() {
        let e = err("name: x\nsteps:\n  - authorize: { consent: aprove }\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("aprove"), "{e}");
        let e = err("name: x\nsteps:\n  - register: {}\n    expect: { status: teapot }\n");
        assert!(e.message.contains("teapot"), "{e}");
        let e = err("name: x\nsteps:\n  - register: {}\n    expect: { json: { 'a.b': 1 } }\n");
        assert!(e.message.contains("not a JSONPath"), "{e}");
        let e = err("name: x\nsteps:\n  - register: {}\n    save: { id: 'client_id' }\n");
        assert!(e.message.contains("save `id`"), "{e}");
        let e = err("name: x\nsteps:\n  - register: {}\n    expect: { form: { a: b } }\n");
        assert!(e.message.contains("idp.journal"), "{e}");
        let e = err("name: x\nsteps:\n  - idp.clock: { advance: 1y }\n");
        assert!(e.message.contains("unknown unit"), "{e}");
    }

    #[test]
    fn steps_need_exactly_one_action() {
        let e = err("name: x\nsteps:\n  - expect: { status: 200 }\n");
        assert_eq!((e.line, e.column), (3, 5), "{e}");
        assert!(e.message.contains("no action"), "{e}");
        assert!(e.message.contains("`register`"), "{e}");
        let e = err("name: x\nsteps:\n  - register: {}\n    token: {}\n");
        assert!(
            e.message.contains("several actions (`register`, `token`)"),
            "{e}"
        );
    }

    #[test]
    fn null_actions_count_as_present() {
        let d = TempDir::new();
        let p = d.write(
            "area/s.yaml",
            "name: x\nsteps:\n  - idp.rotate_keys:\n  - discover:\n",
        );
        let Loaded::Ok(s) = load_file("area", &p) else {
            panic!()
        };
        assert_eq!(s.scenario.steps[0].value.action(), "idp.rotate_keys");
        assert_eq!(s.scenario.steps[1].value.action(), "discover");
    }

    #[test]
    fn expectations_keep_the_place_of_each_check() {
        let d = TempDir::new();
        let p = d.write(
            "area/s.yaml",
            "name: x\nsteps:\n  - discover: {}\n    expect:\n      status: 200\n      \
             json: { $.a: 1 }\n  - discover: {}\n    expect:\n      - headers:\n          \
             x-one: a\n      - level: should\n        json:\n          $.b: 2\n",
        );
        let Loaded::Ok(s) = load_file("area", &p) else {
            panic!()
        };
        let single = &s.scenario.steps[0].value.expect_at[0];
        assert_eq!(single.line_of("status"), Some(5));
        assert_eq!(single.line_of("json $.a"), Some(6));
        // A check without a field of its own: the expectation's line, unknown for a map.
        assert_eq!(single.line_of("redirect query code"), None);
        let list = &s.scenario.steps[1].value.expect_at;
        assert_eq!(list[0].line_of("header x-one"), Some(10));
        assert_eq!(list[1].line_of("json $.b"), Some(13));
        assert_eq!(list[1].line_of("html contains"), Some(11));
    }

    #[test]
    fn any_of_alternatives_are_checked_when_loaded() {
        let e = err(
            "name: x\nsteps:\n  - discover: {}\n    expect:\n      any_of:\n        \
             - status: 200\n        - status: 2x0\n",
        );
        assert_eq!((e.line, e.column), (7, 19), "{e}");
        assert!(e.message.contains("is not a status"), "{e}");
        let e = err(
            "name: x\nsteps:\n  - discover: {}\n    expect:\n      any_of:\n        \
             - { level: should, status: 200 }\n",
        );
        assert!(
            e.message
                .contains("takes the level, clause and assumptions of its expectation"),
            "{e}"
        );
    }

    #[test]
    fn architecture_terms_are_checked_when_loaded() {
        let e = err("name: x\nsteps:\n  - discover: {}\n    expect:\n      \
             assumes: [own_tokens, own_keys]\n      status: 200\n");
        assert_eq!((e.line, e.column), (5, 29), "{e}");
        assert!(e.message.contains("unknown architecture `own_keys`"), "{e}");
        let e = err("name: x\nrequires: { architecture: [confidential] }\nsteps: []\n");
        assert!(e.message.contains("requires.architecture"), "{e}");
        assert_eq!((e.line, e.column), (2, 28), "{e}");
    }

    #[test]
    fn yaml_12_booleans_stay_strings() {
        let d = TempDir::new();
        let p = d.write(
            "area/s.yaml",
            "name: x\nproxy: { consent: off }\nsteps:\n  - register: { note: yes }\n",
        );
        let Loaded::Ok(s) = load_file("area", &p) else {
            panic!()
        };
        assert_eq!(s.scenario.proxy.as_ref().unwrap().value["consent"], "off");
        let Action::Register(body) = &s.scenario.steps[0].value.action else {
            panic!("a register step")
        };
        assert_eq!(body["note"], "yes");
    }

    #[test]
    fn matrix_expands_in_order() {
        let d = TempDir::new();
        let p = d.write(
            "area/m.yaml",
            "name: m\nmatrix:\n  method: [basic, post, none]\n  n: [1, 2]\nsteps:\n  - discover: {}\n",
        );
        let Loaded::Ok(s) = load_file("area", &p) else {
            panic!()
        };
        let names: Vec<String> = s.variants.iter().map(|v| s.trial_name(v)).collect();
        assert_eq!(
            names,
            [
                "area::m[method=basic,n=1]",
                "area::m[method=basic,n=2]",
                "area::m[method=post,n=1]",
                "area::m[method=post,n=2]",
                "area::m[method=none,n=1]",
                "area::m[method=none,n=2]",
            ]
        );
        assert_eq!(
            s.variants[3].values,
            vec![
                ("method".into(), Value::from("post")),
                ("n".into(), Value::from(2))
            ]
        );
        let e = err("name: x\nmatrix: { env: [a] }\nsteps:\n  - discover: {}\n");
        assert!(e.message.contains("reserved"), "{e}");
        let e = err("name: x\nmatrix: { a: [] }\nsteps:\n  - discover: {}\n");
        assert!(e.message.contains("at least one value"), "{e}");
    }

    #[test]
    fn no_matrix_no_brackets() {
        let d = TempDir::new();
        let p = d.write("area/plain.yaml", "name: p\nsteps:\n  - discover: {}\n");
        let Loaded::Ok(s) = load_file("area", &p) else {
            panic!()
        };
        assert_eq!(s.variants.len(), 1);
        assert_eq!(s.trial_name(&s.variants[0]), "area::plain");
    }

    #[test]
    fn includes_resolve_relative_and_check_inputs() {
        let d = TempDir::new();
        d.write(
            "_lib/login.yaml",
            "inputs: { redirect_uri: null, scope: openid }\nsteps:\n  - register: { redirect_uris: ['{{ redirect_uri }}'] }\noutputs: { id: '{{ flow.client_id }}' }\n",
        );
        let ok = d.write(
            "area/uses.yaml",
            "name: u\nsteps:\n  - include: { file: ../_lib/login.yaml, with: { redirect_uri: 'http://localhost:1/cb' } }\n",
        );
        let Loaded::Ok(s) = load_file("area", &ok) else {
            panic!()
        };
        assert_eq!(s.includes.len(), 1);
        let missing = d.write(
            "area/missing.yaml",
            "name: u\nsteps:\n  - include: { file: ../_lib/login.yaml }\n",
        );
        let Loaded::Err { error, .. } = load_file("area", &missing) else {
            panic!()
        };
        assert!(
            error.message.contains("input `redirect_uri` is required"),
            "{error}"
        );
        let unknown = d.write(
            "area/unknown.yaml",
            "name: u\nsteps:\n  - include: { file: ../_lib/login.yaml, with: { redirect_uri: x, scop: y } }\n",
        );
        let Loaded::Err { error, .. } = load_file("area", &unknown) else {
            panic!()
        };
        assert!(error.message.contains("unknown input `scop`"), "{error}");
        assert!(error.message.contains("`scope`"), "{error}");
        let bad_inner = d.write("_lib/bad.yaml", "steps:\n  - registr: {}\n");
        let _ = bad_inner;
        let uses_bad = d.write(
            "area/bad.yaml",
            "name: u\nsteps:\n  - include: { file: ../_lib/bad.yaml }\n",
        );
        let Loaded::Err { error, .. } = load_file("area", &uses_bad) else {
            panic!()
        };
        assert!(
            error.file.ends_with("bad.yaml") && error.file.contains("_lib"),
            "{error}"
        );
        assert_eq!(error.line, 2, "{error}");
        d.write(
            "_lib/cycle.yaml",
            "steps:\n  - include: { file: cycle.yaml }\n",
        );
        let cyc = d.write(
            "area/cyc.yaml",
            "name: c\nsteps:\n  - include: { file: ../_lib/cycle.yaml }\n",
        );
        let Loaded::Err { error, .. } = load_file("area", &cyc) else {
            panic!()
        };
        assert!(error.message.contains("cycle"), "{error}");
    }

    #[test]
    fn folders_give_areas_and_skip_private_files() {
        let d = TempDir::new();
        d.write("dcr/a.yaml", "name: a\nsteps:\n  - discover: {}\n");
        d.write("dcr/b.yml", "name: b\nsteps:\n  - discover: {}\n");
        d.write("dcr/notes.txt", "x");
        d.write("_lib/inc.yaml", "steps: []\n");
        d.write("redirects/c.yaml", "name: c\nsteps: [ { discover: {} } ]\n");
        let files = find_files(std::slice::from_ref(&d.0)).unwrap();
        let ids: Vec<String> = files.iter().map(|(a, p)| id_of(a, p)).collect();
        assert_eq!(ids, ["dcr::a", "dcr::b", "redirects::c"]);
    }

    #[test]
    fn own_config_needs_its_reason() {
        let e = err("name: x\nrequires: { features: [own_config] }\nsteps: []\n");
        assert!(e.message.contains("needs a `reason`"), "{}", e.message);
        let e = err("name: x\nrequires: { reason: why }\nsteps: []\n");
        assert!(e.message.contains("does not list"), "{}", e.message);
        let ok =
            "name: x\nrequires: { features: [own_config], reason: sets code_ttl }\nsteps: []\n";
        assert!(parse_scenario(ok, Path::new("x.yaml")).is_ok());
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("1h").unwrap(),
            std::time::Duration::from_secs(3600)
        );
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            std::time::Duration::from_secs(5400)
        );
        assert_eq!(
            parse_duration("500ms").unwrap(),
            std::time::Duration::from_millis(500)
        );
        assert_eq!(
            parse_duration("2d").unwrap(),
            std::time::Duration::from_secs(172_800)
        );
        assert_eq!(
            parse_duration("45").unwrap(),
            std::time::Duration::from_secs(45)
        );
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("").is_err());
    }
}
