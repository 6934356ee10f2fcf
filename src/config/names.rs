//! Lab names: safe in container, service and image names, as compose's project names.

/// Names follow compose's project-name rule, so they are safe in container and image names.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= 63
}

/// Compose's normalisation: lowercase, drop what is not `[a-z0-9_-]`, trim leading `-`/`_`.
pub fn sanitize_name(raw: &str) -> Option<String> {
    let lowered: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    let trimmed: String = lowered
        .trim_start_matches(['-', '_'])
        .chars()
        .take(63)
        .collect();
    (!trimmed.is_empty()).then_some(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised_like_compose_project_names() {
        assert_eq!(sanitize_name("My Analysis").as_deref(), Some("myanalysis"));
        assert_eq!(sanitize_name("_x.y-Z").as_deref(), Some("xy-z"));
        assert_eq!(sanitize_name("..."), None);
    }
}
