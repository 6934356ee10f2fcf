//! The commented rjup.yaml `rjup init` writes: every key, documented, the defaults
//! commented out. The file is `init.yaml` beside this one; `{name}` is the lab's name.

const TEMPLATE: &str = include_str!("init.yaml");

/// The file for the lab `name`.
pub fn template(name: &str) -> String {
    TEMPLATE.replace("{name}", name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    #[test]
    fn the_init_template_parses_and_documents_every_key() {
        let text = template("demo");
        assert_eq!(
            parse(&text, "rjup.yaml").unwrap().name.as_deref(),
            Some("demo")
        );
        for key in [
            "name", "port", "bind", "image", "build", "base", "packages", "env",
        ] {
            assert!(text.contains(&format!("{key}:")), "template lacks `{key}`");
        }
    }
}
