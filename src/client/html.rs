//! Just enough HTML to answer a consent page like a browser would: find the `<form>`s, their
//! `action` and `method`, the fields a browser would submit and the submit buttons.
//!
//! A tolerant tag scanner (no DOM): comments, `<script>` and `<style>` contents are skipped,
//! attribute values may be double-quoted, single-quoted or bare, and character references
//! (`&amp;`, `&#39;`, `&#x27;`…) are decoded.

/// One HTML form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Form {
    /// The `action` attribute (absent → the page's own URL).
    pub action: Option<String>,
    /// `GET` or `POST` (upper case; absent or unknown → `GET`, as browsers do).
    pub method: String,
    /// Successful controls other than submit buttons, in document order.
    pub fields: Vec<(String, String)>,
    /// Submit buttons (`<button>` of type submit, `<input type=submit|image>`): (name, value).
    pub buttons: Vec<(String, String)>,
}

impl Form {
    /// Whether a submit button `name=value` exists.
    pub fn has_button(&self, name: &str, value: &str) -> bool {
        self.buttons.iter().any(|(n, v)| n == name && v == value)
    }

    /// The value of the first field named `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every form of a page, in document order.
pub fn forms(html: &str) -> Vec<Form> {
    let mut forms = Vec::new();
    let mut current: Option<Form> = None;
    for tag in Tags::new(html) {
        match (tag.name.as_str(), tag.closing) {
            ("form", false) => {
                if let Some(done) = current.take() {
                    forms.push(done);
                }
                let method = tag
                    .attr("method")
                    .map(|m| m.trim().to_ascii_uppercase())
                    .filter(|m| m == "POST")
                    .unwrap_or_else(|| "GET".to_owned());
                current = Some(Form {
                    action: tag.attr("action").map(str::to_owned),
                    method,
                    ..Form::default()
                });
            }
            ("form", true) => {
                if let Some(done) = current.take() {
                    forms.push(done);
                }
            }
            ("input", false) => {
                let Some(form) = current.as_mut() else {
                    continue;
                };
                let (Some(name), false) = (tag.attr("name"), tag.has("disabled")) else {
                    continue;
                };
                let value = tag.attr("value").unwrap_or("").to_owned();
                let kind = tag.attr("type").unwrap_or("text").to_ascii_lowercase();
                match kind.as_str() {
                    "submit" | "image" => form.buttons.push((name.to_owned(), value)),
                    "button" | "reset" | "file" => {}
                    "checkbox" | "radio" => {
                        if tag.has("checked") {
                            let value = if tag.attr("value").is_some() {
                                value
                            } else {
                                "on".into()
                            };
                            form.fields.push((name.to_owned(), value));
                        }
                    }
                    _ => form.fields.push((name.to_owned(), value)),
                }
            }
            ("button", false) => {
                let Some(form) = current.as_mut() else {
                    continue;
                };
                let kind = tag.attr("type").unwrap_or("submit").to_ascii_lowercase();
                if kind == "submit"
                    && !tag.has("disabled")
                    && let Some(name) = tag.attr("name")
                {
                    let value = tag.attr("value").unwrap_or("").to_owned();
                    form.buttons.push((name.to_owned(), value));
                }
            }
            _ => {}
        }
    }
    if let Some(done) = current {
        forms.push(done);
    }
    forms
}

/// The consent form of a page: the first form with a submit button named `action` (the
/// FastMCP and authproof convention: `value="approve"` / `value="deny"`).
pub fn consent_form(html: &str) -> Option<Form> {
    forms(html)
        .into_iter()
        .find(|f| f.buttons.iter().any(|(n, _)| n == "action"))
}

struct Tag {
    name: String,
    closing: bool,
    attrs: Vec<(String, Option<String>)>,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    fn has(&self, name: &str) -> bool {
        self.attrs.iter().any(|(n, _)| n == name)
    }
}

struct Tags<'a> {
    html: &'a str,
    pos: usize,
}

impl<'a> Tags<'a> {
    fn new(html: &'a str) -> Tags<'a> {
        Tags { html, pos: 0 }
    }

    fn skip_past(&mut self, needle: &str) {
        let rest = &self.html[self.pos..];
        let lower = rest.to_ascii_lowercase();
        self.pos = match lower.find(needle) {
            Some(i) => self.pos + i + needle.len(),
            None => self.html.len(),
        };
    }
}

impl Iterator for Tags<'_> {
    type Item = Tag;

    fn next(&mut self) -> Option<Tag> {
        loop {
            let start = self.pos + self.html.get(self.pos..)?.find('<')?;
            self.pos = start + 1;
            let rest = &self.html[self.pos..];
            if rest.starts_with("!--") {
                self.skip_past("-->");
                continue;
            }
            let (closing, name_start) = match rest.strip_prefix('/') {
                Some(_) => (true, self.pos + 1),
                None => (false, self.pos),
            };
            let name_len = self.html[name_start..]
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if name_len == 0 {
                continue; // `<!DOCTYPE`, `<?xml`, a stray `<`
            }
            let name = self.html[name_start..name_start + name_len].to_ascii_lowercase();
            let (attrs, end) = parse_attrs(self.html, name_start + name_len);
            self.pos = end;
            if !closing && (name == "script" || name == "style") {
                self.skip_past(&format!("</{name}"));
            }
            return Some(Tag {
                name,
                closing,
                attrs,
            });
        }
    }
}

/// Attributes from `from` up to the closing `>`; returns them and the position after `>`.
fn parse_attrs(html: &str, from: usize) -> (Vec<(String, Option<String>)>, usize) {
    let bytes = html.as_bytes();
    let mut attrs = Vec::new();
    let mut i = from;
    let skip_ws = |i: &mut usize| {
        while *i < bytes.len() && (bytes[*i].is_ascii_whitespace() || bytes[*i] == b'/') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= bytes.len() {
            return (attrs, i);
        }
        if bytes[i] == b'>' {
            return (attrs, i + 1);
        }
        let name_start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        let name = html[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i];
                let start = i + 1;
                let end = bytes[start..]
                    .iter()
                    .position(|&b| b == quote)
                    .map_or(bytes.len(), |p| start + p);
                i = (end + 1).min(bytes.len());
                &html[start..end]
            } else {
                let start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                &html[start..i]
            };
            attrs.push((name, Some(decode_entities(value))));
        } else if !name.is_empty() {
            attrs.push((name, None));
        } else {
            i += 1; // a stray character; never loop on it
        }
    }
}

/// Decodes the character references that matter in attribute values.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let entity = &rest[1..end];
            let ch = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let num = entity.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((ch, end + 1))
        });
        match decoded {
            Some((ch, len)) => {
                out.push(ch);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FASTMCP_LIKE: &str = r#"<!DOCTYPE html>
<html><head><style>form { x: "<form>" }</style>
<script>var s = "<input name='evil' value='1'>";</script></head>
<body>
<!-- <form action="/nope"><button name="action" value="approve"></button></form> -->
<form method="post" action="/consent?x=1&amp;y=2">
  <input type="hidden" name="txn_id" value="txn-123">
  <input type=hidden name=csrf_token value='tok&#39;en&#x2F;=='>
  <input type="hidden" name="submit" value="true" />
  <input type="checkbox" name="remember">
  <input type="checkbox" name="agree" checked>
  <input name="disabled_one" value="x" disabled>
  <button type="submit" name="action" value="approve">Allow Access</button>
  <button name="action" value="deny">Deny</button>
  <button type="button" name="other" value="x">Help</button>
</form>
<form><input name="q"></form>
</body></html>"#;

    #[test]
    fn finds_the_consent_form() {
        let form = consent_form(FASTMCP_LIKE).unwrap();
        assert_eq!(form.method, "POST");
        assert_eq!(form.action.as_deref(), Some("/consent?x=1&y=2"));
        assert_eq!(
            form.fields,
            vec![
                ("txn_id".to_owned(), "txn-123".to_owned()),
                ("csrf_token".to_owned(), "tok'en/==".to_owned()),
                ("submit".to_owned(), "true".to_owned()),
                ("agree".to_owned(), "on".to_owned()),
            ]
        );
        assert!(form.has_button("action", "approve"));
        assert!(form.has_button("action", "deny"));
        assert!(!form.has_button("other", "x"));
        assert_eq!(form.field("txn_id"), Some("txn-123"));
    }

    #[test]
    fn counts_every_form() {
        let all = forms(FASTMCP_LIKE);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].method, "GET");
        assert_eq!(all[1].action, None);
        assert_eq!(all[1].fields, vec![("q".to_owned(), String::new())]);
    }

    #[test]
    fn no_form_no_consent() {
        assert!(consent_form("<html><body>Invalid transaction</body></html>").is_none());
        assert!(consent_form("<form><button name=go>x</button></form>").is_none());
        assert!(consent_form("").is_none());
        assert!(consent_form("<form action=").is_none());
        assert!(consent_form("<<<>>>< / <a =>").is_none());
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a&amp;b&lt;&gt;&quot;&#65;&#x42;&bogus;&"),
            "a&b<>\"AB&bogus;&"
        );
    }
}
