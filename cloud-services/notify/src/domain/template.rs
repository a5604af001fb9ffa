//! Messages in the recipient's language: one TOML file per language (`templates/en.toml`,
//! `templates/fr.toml`), a section per message kind with a `subject`, a plain-text body and a
//! short `sms`; the HTML part is the same text, escaped, in a minimal layout. Placeholders are `{name}`; values are
//! inserted as they are in the text part and HTML-escaped in the HTML part, so nothing a user
//! typed (a name) can inject markup.

use std::collections::{BTreeMap, BTreeSet};

use episante_kit::Language;
use serde::Deserialize;

use super::message::MessageKind;

#[derive(Debug, Clone, Deserialize)]
struct Section {
    subject: String,
    text: String,
    sms: String,
}

/// Every language's messages, parsed once.
#[derive(Debug, Clone)]
pub struct Templates {
    by_language: BTreeMap<Language, BTreeMap<String, Section>>,
}

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The SMS body.
    pub sms: String,
}

fn source(language: Language) -> &'static str {
    match language {
        Language::En => include_str!("../../templates/en.toml"),
        Language::Fr => include_str!("../../templates/fr.toml"),
    }
}

impl Templates {
    /// Parses the built-in templates; an error names the file and what is wrong (a test runs it).
    pub fn load() -> Result<Templates, String> {
        let mut by_language = BTreeMap::new();
        for language in Language::ALL {
            let sections: BTreeMap<String, Section> = toml::from_str(source(language))
                .map_err(|e| format!("templates/{language}.toml: {e}"))?;
            for kind in MessageKind::ALL {
                if !sections.contains_key(kind.as_str()) {
                    return Err(format!("templates/{language}.toml: no [{}]", kind.as_str()));
                }
            }
            by_language.insert(language, sections);
        }
        Ok(Templates { by_language })
    }

    /// `kind` in `language`, with `vars` substituted.
    pub fn render(&self, kind: MessageKind, language: Language, vars: &[(&str, &str)]) -> Rendered {
        let section = &self.by_language[&language][kind.as_str()];
        let text = substitute(&section.text, vars, |v| v.to_string());
        let body = substitute(&section.text, vars, escape_html);
        let html = format!(
            "<!doctype html>\n<html lang=\"{language}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
             <body style=\"font-family: sans-serif; line-height: 1.5\"><pre style=\"font-family: inherit; white-space: pre-wrap\">{}</pre></body></html>\n",
            escape_html(&section.subject),
            linkify(&body)
        );
        Rendered {
            subject: substitute(&section.subject, vars, |v| v.to_string()),
            text,
            html,
            sms: substitute(&section.sms, vars, |v| v.to_string()),
        }
    }

    /// The placeholders each section of `language` uses, for the parity test.
    pub fn placeholders(&self, language: Language) -> BTreeMap<String, BTreeSet<String>> {
        self.by_language[&language]
            .iter()
            .map(|(key, s)| {
                let mut found = BTreeSet::new();
                for part in [&s.subject, &s.text, &s.sms] {
                    let mut rest = part.as_str();
                    while let Some(start) = rest.find('{') {
                        let Some(len) = rest[start..].find('}') else {
                            break;
                        };
                        found.insert(rest[start + 1..start + len].to_string());
                        rest = &rest[start + len..];
                    }
                }
                (key.clone(), found)
            })
            .collect()
    }
}

fn substitute(template: &str, vars: &[(&str, &str)], encode: impl Fn(&str) -> String) -> String {
    let mut out = template.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("{{{name}}}"), &encode(value));
    }
    out
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Makes the (already escaped) `http…` words of `body` links.
fn linkify(body: &str) -> String {
    body.split(' ')
        .map(|word| {
            if word.starts_with("http://") || word.starts_with("https://") {
                let trimmed = word.trim_end_matches('\n');
                let tail = &word[trimmed.len()..];
                format!("<a href=\"{trimmed}\">{trimmed}</a>{tail}")
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_the_same_messages_and_placeholders() {
        let templates = Templates::load().unwrap();
        let english = templates.placeholders(Language::En);
        assert_eq!(english.len(), MessageKind::ALL.len());
        for language in Language::ALL {
            assert_eq!(templates.placeholders(language), english, "{language}");
        }
    }

    #[test]
    fn values_are_escaped_in_html_only() {
        let templates = Templates::load().unwrap();
        let vars = [
            ("name", "<b>Ada</b> & co"),
            ("link", "https://portal.example/appointments"),
        ];
        let r = templates.render(MessageKind::AppointmentBooked, Language::Fr, &vars);
        assert_eq!(r.subject, "Votre rendez-vous est confirmé");
        assert!(r.text.contains("Bonjour <b>Ada</b> & co"), "{}", r.text);
        assert!(
            r.html.contains("Bonjour &lt;b&gt;Ada&lt;/b&gt; &amp; co"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<b>Ada"));
        assert!(r
            .html
            .contains("<a href=\"https://portal.example/appointments\">"));
        assert!(r.html.contains("<html lang=\"fr\">"));
    }
}
