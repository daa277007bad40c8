//! The conformance matrix of several targets side by side (targets × areas × levels), built
//! from the JSON reports of `authproof test`, and kept in the README between two markers
//! (`authproof conformance-matrix`, `scripts/conformance-matrix.sh`).
//!
//! Each target gets three columns per area: the trials that applied (of all), those that
//! passed, and the failures by level (`must / should / profile`). A listed expected failure
//! still counts as a failure at its level: the matrix says how a target fares, and the
//! target's `expected-failures.yaml` says which failures are its own.

use super::conformance::{Row, Status, matrix_rows};
use super::model::Level;
use serde_json::Value;
use std::fmt::Write as _;

/// The line before the matrix in the README.
pub const BEGIN: &str = "<!-- conformance-matrix:begin: written by scripts/conformance-matrix.sh, do not edit by hand -->";
/// The line after it.
pub const END: &str = "<!-- conformance-matrix:end -->";

/// One target's rows: per area (sorted) and the total.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRows {
    pub name: String,
    pub rows: Vec<Row>,
    pub total: Row,
}

/// The rows of one JSON report (`{ results: [{ name, area?, status, level? }] }`).
pub fn from_report(name: &str, report: &Value) -> Result<TargetRows, String> {
    let results = report
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{name}: the report has no `results` array"))?;
    let mut trials = Vec::with_capacity(results.len());
    for r in results {
        let field = |k: &str| r.get(k).and_then(Value::as_str);
        let trial = field("name").ok_or_else(|| format!("{name}: a result without a name"))?;
        let area = field("area")
            .or_else(|| trial.split_once("::").map(|(a, _)| a))
            .ok_or_else(|| format!("{name}: {trial}: no area"))?;
        let status = match field("status") {
            Some("passed") => Status::Passed,
            Some("skipped") => Status::Skipped,
            Some("failed") => Status::Failed(match field("level") {
                Some("must") | None => Level::Must,
                Some("should") => Level::Should,
                Some("profile") => Level::Profile,
                Some(other) => return Err(format!("{name}: {trial}: unknown level {other:?}")),
            }),
            other => return Err(format!("{name}: {trial}: unknown status {other:?}")),
        };
        trials.push((area.to_string(), status));
    }
    if trials.is_empty() {
        return Err(format!("{name}: the report lists no trials"));
    }
    let (rows, total) = matrix_rows(trials.iter().map(|(a, s)| (a.as_str(), *s)));
    Ok(TargetRows {
        name: name.to_string(),
        rows,
        total,
    })
}

fn applied(r: &Row) -> String {
    if r.area == "all" {
        format!("{}/{} ({:.0}%)", r.applied(), r.trials, r.applied_percent())
    } else {
        format!("{}/{}", r.applied(), r.trials)
    }
}

fn failed(r: &Row) -> String {
    format!("{} / {} / {}", r.must, r.should, r.profile)
}

/// The Markdown table (without the markers): one row per area of any target, then `all`.
pub fn markdown(targets: &[TargetRows]) -> String {
    let mut areas: Vec<&str> = targets
        .iter()
        .flat_map(|t| t.rows.iter().map(|r| r.area.as_str()))
        .collect();
    areas.sort_unstable();
    areas.dedup();
    let mut md = String::from("| area |");
    for t in targets {
        let _ = write!(
            md,
            " {n}: applied | {n}: passed | {n}: failed must / should / profile |",
            n = t.name
        );
    }
    md.push_str("\n|---|");
    md.push_str(&"---:|".repeat(3 * targets.len()));
    let empty = Row::default();
    for area in areas.iter().copied().chain(std::iter::once("all")) {
        let label = if area == "all" { "**all**" } else { area };
        let _ = write!(md, "\n| {label} |");
        for t in targets {
            let row = if area == "all" {
                &t.total
            } else {
                t.rows.iter().find(|r| r.area == area).unwrap_or(&empty)
            };
            let mut row = row.clone();
            row.area = area.to_string();
            let _ = write!(
                md,
                " {} | {} | {} |",
                applied(&row),
                row.passed,
                failed(&row)
            );
        }
    }
    md.push('\n');
    md
}

/// `text` with the block between [`BEGIN`] and [`END`] replaced by `table`.
pub fn splice(text: &str, table: &str) -> Result<String, String> {
    let (start, end) = block_span(text)?;
    Ok(format!("{}{table}{}", &text[..start], &text[end..]))
}

/// The table between the markers.
pub fn block(text: &str) -> Result<&str, String> {
    let (start, end) = block_span(text)?;
    Ok(&text[start..end])
}

/// Byte range of the block's content: after the BEGIN line, up to the END line.
fn block_span(text: &str) -> Result<(usize, usize), String> {
    let begin = text
        .find(BEGIN)
        .ok_or_else(|| format!("no `{BEGIN}` line"))?;
    let start = begin + BEGIN.len() + text[begin + BEGIN.len()..].find('\n').unwrap_or(0) + 1;
    let end = text[start..]
        .find(END)
        .map(|i| start + i)
        .ok_or_else(|| format!("no `{END}` line after `{BEGIN}`"))?;
    if text[end + END.len()..].contains(BEGIN) {
        return Err("the matrix markers appear twice".into());
    }
    Ok((start, end))
}

/// Read a table [`markdown`] wrote back into its rows (for checking that a README's block is
/// in the generator's format).
pub fn parse(table: &str) -> Result<Vec<TargetRows>, String> {
    let mut lines = table.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or("an empty matrix")?;
    let heads = cells(header);
    if heads.first().map(String::as_str) != Some("area")
        || heads.len() < 4
        || !(heads.len() - 1).is_multiple_of(3)
    {
        return Err(format!("not a matrix header: {header}"));
    }
    let mut targets = Vec::new();
    for chunk in heads[1..].chunks(3) {
        let name = chunk[0]
            .strip_suffix(": applied")
            .ok_or_else(|| format!("not an `applied` column: {}", chunk[0]))?;
        if chunk[1] != format!("{name}: passed")
            || chunk[2] != format!("{name}: failed must / should / profile")
        {
            return Err(format!(
                "the columns of {name} are not applied, passed, failed"
            ));
        }
        targets.push(TargetRows {
            name: name.to_string(),
            rows: Vec::new(),
            total: Row::default(),
        });
    }
    let rule = lines.next().ok_or("no rule under the header")?;
    if cells(rule).len() != heads.len() {
        return Err(format!(
            "the rule has another width than the header: {rule}"
        ));
    }
    let mut saw_total = false;
    for line in lines {
        if saw_total {
            return Err(format!("a row after the total: {line}"));
        }
        let c = cells(line);
        if c.len() != heads.len() {
            return Err(format!("a row of another width than the header: {line}"));
        }
        let area = if c[0] == "**all**" {
            saw_total = true;
            "all".to_string()
        } else {
            c[0].clone()
        };
        for (t, chunk) in targets.iter_mut().zip(c[1..].chunks(3)) {
            let row = parse_cells(&area, chunk).map_err(|e| format!("{line}: {e}"))?;
            if saw_total {
                t.total = row;
            } else {
                t.rows.push(row);
            }
        }
    }
    if !saw_total {
        return Err("no **all** row".into());
    }
    Ok(targets)
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

fn number(s: &str) -> Result<usize, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a count"))
}

fn parse_cells(area: &str, c: &[String]) -> Result<Row, String> {
    let applied_cell = c[0].split(" (").next().unwrap_or("");
    let (applied, trials) = applied_cell
        .split_once('/')
        .ok_or_else(|| format!("{:?} is not applied/trials", c[0]))?;
    let (applied, trials) = (number(applied)?, number(trials)?);
    let levels: Vec<&str> = c[2].split('/').collect();
    let [must, should, profile] = levels[..] else {
        return Err(format!("{:?} is not must / should / profile", c[2]));
    };
    let row = Row {
        area: area.to_string(),
        trials,
        passed: number(&c[1])?,
        must: number(must)?,
        should: number(should)?,
        profile: number(profile)?,
        expected: 0,
        skipped: trials
            .checked_sub(applied)
            .ok_or_else(|| format!("{applied} applied of {trials}"))?,
        not_checked: 0,
    };
    if row.passed + row.must + row.should + row.profile != applied {
        return Err(format!(
            "{area}: passed and failed do not add up to the {applied} applied"
        ));
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Value {
        json!({ "results": [
            { "name": "dcr::a", "area": "dcr", "status": "passed" },
            { "name": "dcr::b", "area": "dcr", "status": "failed", "level": "must" },
            { "name": "dcr::c", "area": "dcr", "status": "skipped", "reason": "x" },
            { "name": "token::a", "status": "failed", "level": "profile" },
        ]})
    }

    #[test]
    fn rows_come_from_the_report() {
        let t = from_report("X", &report()).unwrap();
        assert_eq!(t.rows.len(), 2);
        let dcr = &t.rows[0];
        assert_eq!(
            (dcr.trials, dcr.passed, dcr.must, dcr.skipped),
            (3, 1, 1, 1)
        );
        assert_eq!(t.total.applied(), 3);
        assert_eq!(t.total.profile, 1);
        assert!(from_report("X", &json!({ "results": [] })).is_err());
        let bad = json!({ "results": [{ "name": "a::b", "status": "flaky" }] });
        assert!(
            from_report("X", &bad)
                .unwrap_err()
                .contains("unknown status")
        );
    }

    #[test]
    fn the_table_reads_back_as_written() {
        let a = from_report("authproof", &report()).unwrap();
        let mut only_dcr = report();
        only_dcr["results"].as_array_mut().unwrap().pop();
        let b = from_report("Other 1.0", &only_dcr).unwrap();
        let md = markdown(&[a.clone(), b]);
        assert!(
            md.contains("| **all** | 3/4 (75%) | 1 | 1 / 0 / 1 | 2/3 (67%) | 1 | 1 / 0 / 0 |"),
            "{md}"
        );
        // An area a target does not have reads as zero trials.
        assert!(
            md.contains("| token | 1/1 | 0 | 0 / 0 / 1 | 0/0 | 0 | 0 / 0 / 0 |"),
            "{md}"
        );
        let back = parse(&md).unwrap();
        assert_eq!(markdown(&back), md);
        assert_eq!(back[0].total.trials, 4);
    }

    #[test]
    fn malformed_tables_are_refused() {
        let md = markdown(&[from_report("T", &report()).unwrap()]);
        let broken = md.replace("1 / 0 / 1", "1 / 0");
        assert!(
            parse(&broken)
                .unwrap_err()
                .contains("must / should / profile")
        );
        let no_total = md
            .lines()
            .filter(|l| !l.contains("**all**"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(parse(&no_total).unwrap_err().contains("no **all** row"));
        let wrong_sum = md.replace("| dcr | 2/3 | 1 |", "| dcr | 2/3 | 2 |");
        assert!(parse(&wrong_sum).unwrap_err().contains("do not add up"));
    }

    #[test]
    fn splicing_replaces_only_the_block() {
        let text = format!("intro\n{BEGIN}\nold table\n{END}\nafter\n");
        let out = splice(&text, "| new |\n").unwrap();
        assert_eq!(out, format!("intro\n{BEGIN}\n| new |\n{END}\nafter\n"));
        assert_eq!(block(&out).unwrap(), "| new |\n");
        assert!(splice("no markers", "x").is_err());
        assert!(
            splice(&format!("{BEGIN}\n"), "x")
                .unwrap_err()
                .contains("no `")
        );
    }

    /// The README's block is in the generator's format: it parses, and writing the parsed
    /// rows again gives the same text (the figures themselves come from live runs).
    #[test]
    fn the_readme_block_is_in_the_generators_format() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        let table = block(readme).unwrap();
        let targets = parse(table).unwrap_or_else(|e| panic!("README matrix: {e}\n{table}"));
        assert_eq!(
            markdown(&targets),
            table,
            "the README's matrix is not as the generator writes it"
        );
        let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names.first(), Some(&"authproof"), "{names:?}");
        assert_eq!(
            names.len(),
            3,
            "authproof, FastMCP and the TS SDK: {names:?}"
        );
        for t in &targets {
            let areas: usize = t.rows.iter().map(|r| r.trials).sum();
            assert_eq!(
                areas, t.total.trials,
                "{}: the areas do not add up to all",
                t.name
            );
        }
    }
}
