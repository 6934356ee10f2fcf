//! `collaboration: true`: real-time collaboration through jupyter-collaboration, which
//! JupyterLab loads by itself once it is installed. A built lab gets the package with
//! its others; a pulled image must already have it ([`crate::lab::collaboration`]).

/// The PyPI package, installed with the lab's other packages (and pinned by the lock).
pub const PACKAGE: &str = "jupyter-collaboration";

/// Adds the package to a build's packages, unless the user already lists it (perhaps
/// with a version they chose).
pub fn add_package(packages: &mut Vec<String>) {
    let listed = packages.iter().any(|p| {
        let name: String = p
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        name.to_ascii_lowercase().replace(['_', '.'], "-") == PACKAGE
    });
    if !listed {
        packages.push(PACKAGE.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_is_added_once_and_a_users_pin_is_kept() {
        let mut packages = vec!["pandas".to_string()];
        add_package(&mut packages);
        assert_eq!(packages, ["pandas", PACKAGE]);
        add_package(&mut packages);
        assert_eq!(packages.len(), 2);
        let mut pinned = vec!["Jupyter_Collaboration==4.1.0".to_string()];
        add_package(&mut pinned);
        assert_eq!(pinned, ["Jupyter_Collaboration==4.1.0"]);
    }
}
