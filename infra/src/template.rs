//! `${NAME}` substitution with envsubst's "listed variables only" semantics, strict both ways.
//!
//! The nginx image renders `/etc/nginx/templates/*.template` with envsubst restricted to defined
//! variables, leaving nginx's own `$variables` alone. [`render`] does the same, but refuses a
//! template that uses a `${NAME}` it was not given (a typo would otherwise reach nginx verbatim)
//! and values that were given but never used (a stale setting).

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template uses ${{{0}}}, which has no value")]
    Missing(String),
    #[error("values given but not used by the template: {0:?}")]
    Unused(Vec<String>),
    #[error("unterminated ${{ at byte {0}")]
    Unterminated(usize),
}

/// Placeholders of the form `${UPPER_SNAKE}` in `template`, in order of first use.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = vec![];
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if is_placeholder(name) && seen.insert(name.to_string()) {
            out.push(name.to_string());
        }
        rest = &after[end + 1..];
    }
    out
}

fn is_placeholder(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// Replaces every `${NAME}` (upper-case names only) with `values[NAME]`.
pub fn render(template: &str, values: &BTreeMap<&str, String>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut used = BTreeSet::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or(TemplateError::Unterminated(offset + start))?;
        let name = &after[..end];
        if is_placeholder(name) {
            let value = values
                .get(name)
                .ok_or_else(|| TemplateError::Missing(name.to_string()))?;
            out.push_str(value);
            used.insert(name);
        } else {
            // Not ours (nginx's `${var}` form): keep it verbatim.
            out.push_str(&rest[start..start + 2 + end + 1]);
        }
        offset += start + 2 + end + 1;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    let unused: Vec<String> = values
        .keys()
        .filter(|k| !used.contains(*k))
        .map(|k| k.to_string())
        .collect();
    if !unused.is_empty() {
        return Err(TemplateError::Unused(unused));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn substitutes_ours_and_keeps_nginx_variables() {
        let t = "server ${AUTH_UPSTREAM}; set $x $remote_addr; ${lower} ${AUTH_UPSTREAM}";
        let out = render(t, &values(&[("AUTH_UPSTREAM", "auth:8081")])).unwrap();
        assert_eq!(
            out,
            "server auth:8081; set $x $remote_addr; ${lower} auth:8081"
        );
        assert_eq!(placeholders(t), vec!["AUTH_UPSTREAM"]);
    }

    #[test]
    fn missing_and_unused_values_are_errors() {
        assert_eq!(
            render("${A_B}", &values(&[])),
            Err(TemplateError::Missing("A_B".into()))
        );
        assert_eq!(
            render("x", &values(&[("A", "1")])),
            Err(TemplateError::Unused(vec!["A".into()]))
        );
        assert_eq!(
            render("ab ${A", &values(&[])),
            Err(TemplateError::Unterminated(3))
        );
    }
}
