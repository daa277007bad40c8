//! `authproof redirects check`: explain a redirect-URI verdict.
//!
//! The verdict answers "may a client register this redirect URI under this allow-list" (the
//! registration rules of DESIGN.md, without `application_type`). Exit 0 allowed, 1 rejected,
//! 2 usage error or invalid pattern; exactly one line on stdout says why.

use crate::proxy::redirect::{AllowList, check_safe, printable};
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct RedirectsArgs {
    #[command(subcommand)]
    pub command: RedirectsCommand,
}

#[derive(Debug, Subcommand)]
pub enum RedirectsCommand {
    /// May a client register this redirect URI under this allow-list?
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// An allow-list pattern (repeatable). None given: the allow-list is absent.
    #[arg(long = "allow", value_name = "PATTERN")]
    pub allow: Vec<String>,
    /// The allow-list is `[]`: nothing may be registered.
    #[arg(long = "deny-all", conflicts_with = "allow")]
    pub deny_all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// The redirect URI to judge.
    pub uri: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// What `redirects check` decided, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// May the URI be registered?
    pub allowed: bool,
    /// The URI as given.
    pub uri: String,
    /// One sentence: why.
    pub reason: String,
    /// The rejection code (`userinfo`, `not_allowed`, …), `invalid_pattern`, or `None` when
    /// allowed.
    pub code: Option<&'static str>,
    /// The pattern that matched (allowed) or the invalid pattern (exit 2).
    pub pattern: Option<String>,
    /// 0 allowed, 1 rejected, 2 invalid pattern.
    pub exit: u8,
}

impl Verdict {
    /// The single output line (no trailing newline).
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => serde_json::json!({
                "allowed": self.allowed,
                "uri": self.uri,
                "reason": self.reason,
                "code": self.code,
                "pattern": self.pattern,
            })
            .to_string(),
            Format::Text => {
                let head = match (self.allowed, self.code) {
                    (true, _) => "allowed".to_owned(),
                    (false, Some(code)) if self.exit == 2 => format!("error ({code})"),
                    (false, Some(code)) => format!("rejected ({code})"),
                    (false, None) => "rejected".to_owned(),
                };
                printable(&format!("{head}: {}", self.reason))
            }
        }
    }
}

/// Judge `args.uri` under the allow-list the flags describe.
pub fn verdict(args: &CheckArgs) -> Verdict {
    let allow = if args.deny_all {
        Ok(AllowList::DenyAll)
    } else if args.allow.is_empty() {
        Ok(AllowList::Absent)
    } else {
        AllowList::from_config(Some(&args.allow))
    };
    let allow = match allow {
        Ok(allow) => allow,
        Err(e) => {
            return Verdict {
                allowed: false,
                uri: args.uri.clone(),
                reason: e.to_string(),
                code: Some("invalid_pattern"),
                pattern: Some(e.pattern.clone()),
                exit: 2,
            };
        }
    };
    let rejected = |r: crate::proxy::redirect::Rejection| Verdict {
        allowed: false,
        uri: args.uri.clone(),
        reason: r.to_string(),
        code: Some(r.code()),
        pattern: None,
        exit: 1,
    };
    let url = match check_safe(&args.uri) {
        Ok(url) => url,
        Err(r) => return rejected(r),
    };
    match allow.check(&url) {
        Ok(Some(pattern)) => Verdict {
            allowed: true,
            uri: args.uri.clone(),
            reason: format!("{} matches the allowed pattern {pattern}", url.as_str()),
            code: None,
            pattern: Some(pattern.to_string()),
            exit: 0,
        },
        Ok(None) => Verdict {
            allowed: true,
            uri: args.uri.clone(),
            reason: format!(
                "{} is a safe redirect URI and there is no allow-list, so any safe URI may be registered",
                url.as_str()
            ),
            code: None,
            pattern: None,
            exit: 0,
        },
        Err(r) => rejected(r),
    }
}

pub fn run(args: RedirectsArgs) -> ExitCode {
    match args.command {
        RedirectsCommand::Check(check) => {
            let verdict = verdict(&check);
            println!("{}", verdict.render(check.format));
            ExitCode::from(verdict.exit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(allow: &[&str], deny_all: bool, uri: &str) -> CheckArgs {
        CheckArgs {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny_all,
            format: Format::Text,
            uri: uri.to_owned(),
        }
    }

    #[test]
    fn verdicts() {
        let v = verdict(&args(
            &["http://localhost:*"],
            false,
            "http://localhost@evil.com/cb",
        ));
        assert_eq!((v.allowed, v.exit, v.code), (false, 1, Some("userinfo")));
        assert!(v.render(Format::Text).starts_with("rejected (userinfo): "));

        let v = verdict(&args(
            &["http://localhost:*"],
            false,
            "http://localhost:3000/cb",
        ));
        assert_eq!((v.allowed, v.exit), (true, 0));
        assert_eq!(v.pattern.as_deref(), Some("http://localhost:*"));

        let v = verdict(&args(&[], false, "https://example.com/cb"));
        assert_eq!((v.allowed, v.exit, v.pattern), (true, 0, None));
        assert!(v.reason.contains("no allow-list"));

        let v = verdict(&args(&[], true, "https://example.com/cb"));
        assert_eq!((v.exit, v.code), (1, Some("deny_all")));

        let v = verdict(&args(&["https://a.*.com"], false, "https://example.com/cb"));
        assert_eq!((v.exit, v.code), (2, Some("invalid_pattern")));
        assert!(
            v.render(Format::Text)
                .starts_with("error (invalid_pattern): ")
        );
    }

    #[test]
    fn output_is_one_line_even_for_hostile_input() {
        let v = verdict(&args(&[], false, "https://example.com/\ncb\r\n"));
        for format in [Format::Text, Format::Json] {
            let line = v.render(format);
            assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        }
        let v = verdict(&args(
            &["https://exa\nmple.com"],
            false,
            "https://example.com/",
        ));
        assert!(!v.render(Format::Text).contains('\n'));
    }
}
