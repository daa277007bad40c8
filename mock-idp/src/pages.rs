//! The small HTML shell of the browser-facing pages.

use foundations::html::escape as html_escape;

/// A complete HTML page with `title` and an already-escaped `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t} · mock IdP</title>\
<style>*{{box-sizing:border-box}}\
body{{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}}\
button{{font-size:1rem;padding:.4rem .9rem;margin:.2rem}}input{{font-size:1rem;padding:.3rem;max-width:100%}}\
code,dd{{overflow-wrap:anywhere}}dd{{margin:0 0 .4rem}}dt{{font-weight:600}}\
.error{{color:#a00}}.muted{{color:#666;font-size:.9rem}}\
@media (max-width:30rem){{body{{margin:1.5rem auto}}}}</style></head>\
<body><h1>{t}</h1>\n{body}\n<p class=\"muted\">mock-idp: a test identity provider</p></body></html>\n",
        t = html_escape(title),
    )
}
