//! Bad input, one test per case: each gets its exact exit code, one message that names
//! the problem and the fix, and leaves no container, image, state or project change.

use crate::util::*;

/// One bad input: the project's files, the command, and what rjup must say.
struct Case {
    files: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    stdin: Option<&'static str>,
    code: i32,
    /// Substrings the message must hold: what is wrong, and how to fix it.
    says: &'static [&'static str],
}

impl Case {
    /// `rjup up` with a password, in an empty project.
    const UP: Case = Case {
        files: &[],
        args: &["up"],
        env: &[("RJUP_PASSWORD", "a password")],
        stdin: None,
        code: 0,
        says: &[],
    };

    /// Runs the case; `engine` says whether an engine answers, so that containers and
    /// images can be looked for (without one, rjup cannot have made any).
    fn run(&self, test: &str, engine: bool) {
        let project = Project::from_example("", &format!("bad-{test}"));
        for (path, text) in self.files {
            if let Some(parent) = std::path::Path::new(path).parent() {
                std::fs::create_dir_all(project.dir.join(parent)).unwrap();
            }
            project.write(path, text);
        }
        let port = free_port().to_string();
        let mut args: Vec<&str> = self.args.to_vec();
        if args == ["up"] {
            args.extend(["--port", port.as_str()]);
        }
        let before = snapshot(&project.dir);
        let out = project.rjup(&args, self.env, self.stdin);
        let err = stderr(&out);
        let mut problems = Vec::new();
        if out.status.code() != Some(self.code) {
            problems.push(format!(
                "exit code {:?}, expected {}",
                out.status.code(),
                self.code
            ));
        }
        for needle in self.says {
            if !err.contains(needle) {
                problems.push(format!("message lacks {needle:?}"));
            }
        }
        let error_lines: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("rjup: error: "))
            .collect();
        // Exit 2 is clap's usage error, whose format is clap's.
        if self.code != 2
            && (error_lines.len() != 1 || !self.says.iter().all(|s| error_lines[0].contains(s)))
        {
            problems.push(format!(
                "the problem and its fix are not on one error line: {error_lines:?}"
            ));
        }
        if engine
            && (inspect(&project.container()).is_some()
                || !containers_named(&project.name).is_empty())
        {
            problems.push("a container was left".into());
        }
        if engine && !images_named(&format!("rjup/{}", project.name)).is_empty() {
            problems.push("an image was left".into());
        }
        if project.state_dir().is_some() {
            problems.push("state was left".into());
        }
        if snapshot(&project.dir) != before {
            problems.push("a project file was touched".into());
        }
        assert!(
            problems.is_empty(),
            "rjup {}: {}\n  stderr: {}",
            args.join(" "),
            problems.join("; "),
            err.trim()
        );
    }
}

/// One `#[test]` per case, named for the input, so that each passes, fails or is
/// ignored on its own. `engine: true` marks a case that needs the engine.
macro_rules! test {
    (name: $name:ident, engine: true, $($field:ident: $value:expr),* $(,)?) => {
        #[test]
        #[ignore = "engine: needs a Docker engine"]
        fn $name() {
            let _engine = engine();
            Case { $($field: $value,)* ..Case::UP }.run(stringify!($name), true);
        }
    };
    (name: $name:ident, $($field:ident: $value:expr),* $(,)?) => {
        #[test]
        fn $name() {
            Case { $($field: $value,)* ..Case::UP }.run(stringify!($name), engine_answers());
        }
    };
}

#[test]
fn the_table_covers_at_least_25_bad_inputs() {
    let cases = include_str!("bad_input.rs").matches("\ntest! {\n").count();
    assert!(
        cases >= 25,
        "the suite must cover at least 25 cases, not {cases}"
    );
}

// rjup.yaml: keys, types and ranges, with file:line:column.
test! {
    name: an_unknown_key,
    files: &[("rjup.yaml", "prot: 8888\n")],
    code: 3,
    says: &["rjup.yaml:1:1", "unknown key `prot`", "did you mean `port`?"],
}
test! {
    name: an_unknown_nested_key,
    files: &[("rjup.yaml", "build:\n  pakages: [x]\n")],
    code: 3,
    says: &["rjup.yaml:2:3", "did you mean `packages`?"],
}
test! {
    name: a_port_that_is_not_a_number,
    files: &[("rjup.yaml", "port: eighty\n")],
    code: 3,
    says: &["rjup.yaml:1:7", "`port`", "1 to 65535"],
}
test! {
    name: port_zero,
    files: &[("rjup.yaml", "port: 0\n")],
    code: 3,
    says: &["rjup.yaml:1:7", "out of range", "remove the key"],
}
test! {
    name: a_port_above_65535,
    files: &[("rjup.yaml", "port: 70000\n")],
    code: 3,
    says: &["rjup.yaml:1:7", "1 to 65535"],
}
test! {
    name: a_bind_that_is_not_an_ip_address,
    files: &[("rjup.yaml", "bind: localhost\n")],
    code: 3,
    says: &["rjup.yaml:1:7", "not an IP address", "0.0.0.0"],
}
test! {
    name: a_name_with_spaces_and_capitals,
    files: &[("rjup.yaml", "name: My Lab\n")],
    code: 3,
    says: &["rjup.yaml:1:7", "lowercase", "use `mylab`"],
}
test! {
    name: an_image_given_as_a_url,
    files: &[("rjup.yaml", "image: https://hub.example/x\n")],
    code: 3,
    says: &["URL scheme", "repository[:tag]"],
}
test! {
    name: an_image_name_in_uppercase,
    files: &[("rjup.yaml", "image: Jupyter/Lab\n")],
    code: 3,
    says: &["must be lowercase"],
}
test! {
    name: both_image_and_build,
    files: &[("rjup.yaml", "image: x\nbuild:\n  base: y\n")],
    code: 3,
    says: &["rjup.yaml:1:8", "exclude each other", "remove one"],
}
test! {
    name: a_package_that_is_a_pip_option,
    files: &[("rjup.yaml", "build:\n  packages: ['--index-url=http://x']\n")],
    code: 3,
    says: &["rjup.yaml:2:", "not a requirement", "one package per entry"],
}
test! {
    name: an_env_variable_rjup_reserves,
    files: &[("rjup.yaml", "env:\n  HOME: /x\n")],
    code: 3,
    says: &["cannot set HOME", "remove it"],
}
test! {
    name: an_env_name_starting_with_a_digit,
    files: &[("rjup.yaml", "env:\n  1X: y\n")],
    code: 3,
    says: &["not a variable name", "letters, digits"],
}
test! {
    name: an_apt_entry_with_shell_syntax,
    files: &[("rjup.yaml", "build:\n  apt: ['jq; rm -rf /']\n")],
    code: 3,
    says: &["rjup.yaml:2:", "not a Debian package name"],
}
test! {
    name: an_unknown_tls_mode,
    files: &[("rjup.yaml", "tls: please\n")],
    code: 3,
    says: &["rjup.yaml:1:6", "not a TLS mode", "self-signed"],
}
test! {
    name: tls_files_that_do_not_exist,
    files: &[("rjup.yaml", "tls:\n  cert: no.pem\n  key: no.key\n")],
    code: 3,
    says: &["tls.cert", "cannot read", "PEM"],
}
test! {
    name: a_memory_limit_that_is_not_an_amount,
    files: &[("rjup.yaml", "resources:\n  memory: lots\n")],
    code: 3,
    says: &["rjup.yaml:2:11", "amount of memory", "4g"],
}
test! {
    name: a_gpus_value_other_than_all,
    files: &[("rjup.yaml", "gpus: some\n")],
    code: 3,
    says: &["rjup.yaml:1:7", "`all`"],
}
test! {
    name: a_check_notebook_outside_the_project,
    files: &[("rjup.yaml", "check:\n  notebooks: [../x.ipynb]\n")],
    code: 3,
    says: &["inside the project"],
}
test! {
    name: broken_yaml_syntax,
    files: &[("rjup.yaml", "port: [1\n")],
    code: 3,
    says: &["rjup.yaml:1:"],
}

// Binder files.
test! {
    name: an_apt_txt_line_with_shell_syntax,
    files: &[("apt.txt", "jq\nrm -rf /\n")],
    code: 3,
    says: &["apt.txt:2", "not a Debian package name", "one package per line"],
}
test! {
    name: a_runtime_txt_that_is_not_python,
    files: &[("runtime.txt", "ruby-3.3\n")],
    code: 3,
    says: &["runtime.txt", "python-X.Y"],
}
test! {
    name: a_runtime_txt_asking_for_r,
    files: &[("runtime.txt", "r-2018-06-18\n")],
    code: 3,
    says: &["runtime.txt asks for R (r-2018-06-18)", "not support", "r-base-core", "apt.txt"],
}
test! {
    name: an_install_r,
    files: &[("binder/install.R", "install.packages('ggplot2')\n"), ("binder/requirements.txt", "six\n")],
    code: 3,
    says: &["binder/install.R asks for R packages", "r-cran-<package>", "apt.txt"],
}
test! {
    name: an_r_description,
    files: &[("DESCRIPTION", "Package: demo\n")],
    code: 3,
    says: &["DESCRIPTION asks for R packages", "apt.txt"],
}
test! {
    name: a_start_script_without_exec,
    files: &[("start", "#!/bin/sh\necho hi\n")],
    code: 3,
    says: &["start", "exec \"$@\""],
}
test! {
    name: both_binder_and_dot_binder_directories,
    files: &[("binder/apt.txt", "jq\n"), (".binder/apt.txt", "jq\n")],
    code: 3,
    says: &["both binder/ and .binder/", "keep one"],
}
test! {
    name: a_missing_build_requirements_file,
    files: &[("rjup.yaml", "build:\n  requirements: env/r.txt\n")],
    code: 3,
    says: &["`build.requirements` names env/r.txt", "fix the path"],
}

// Flags.
test! {
    name: flag_port_zero,
    args: &["up", "--port", "0"],
    code: 2,
    says: &["--port", "1..=65535"],
}
test! {
    name: flag_port_above_65535,
    args: &["up", "--port", "70000"],
    code: 2,
    says: &["--port", "1..=65535"],
}
test! {
    name: flag_bind_given_a_host_name,
    args: &["up", "--bind", "my-server"],
    code: 2,
    says: &["--bind", "invalid IP address"],
}
test! {
    name: flag_timeout_that_is_not_a_duration,
    args: &["up", "--timeout", "soon"],
    code: 2,
    says: &["--timeout", "invalid value 'soon'"],
}
test! {
    name: a_misspelt_flag,
    args: &["up", "--prot", "1"],
    code: 2,
    says: &["--prot", "--port"],
}
test! {
    name: a_project_directory_that_does_not_exist,
    args: &["-C", "/nonexistent/project", "up"],
    code: 3,
    says: &["/nonexistent/project", "not usable"],
}
test! {
    name: a_project_directory_that_is_a_file,
    args: &["-C", "rjup.yaml", "up"],
    files: &[("rjup.yaml", "")],
    code: 3,
    says: &["not a directory", "project's directory"],
}

// Named accounts (`rjup user`): refused before any password is asked for.
test! {
    name: an_account_name_taken_by_the_owner,
    args: &["user", "add", "owner", "--password-stdin"],
    stdin: Some("a password\n"),
    code: 3,
    says: &["the owner's account \"owner\" cannot be added again", "`rjup password`"],
}
test! {
    name: an_account_name_with_capitals,
    args: &["user", "add", "Ada", "--password-stdin"],
    stdin: Some("a password\n"),
    code: 3,
    says: &["invalid account name \"Ada\"", "lowercase letters, digits"],
}
test! {
    name: an_empty_account_password,
    args: &["user", "add", "ada", "--password-stdin"],
    stdin: Some("\n"),
    code: 4,
    says: &["the password is empty", "non-empty"],
}
test! {
    name: a_read_only_owner,
    args: &["user", "add", "owner", "--read-only"],
    code: 3,
    says: &["cannot be read-only", "rjup user add NAME --read-only"],
}
test! {
    name: removing_an_unknown_account,
    args: &["user", "rm", "ownr"],
    code: 3,
    says: &["no account \"ownr\"", "did you mean \"owner\"?", "rjup user ls"],
}
test! {
    name: a_new_password_for_an_unknown_account,
    args: &["user", "passwd", "ada", "--password-stdin"],
    stdin: Some("a password\n"),
    code: 3,
    says: &["no account \"ada\"", "rjup user ls"],
}
test! {
    name: removing_the_owner,
    args: &["user", "rm", "owner"],
    code: 3,
    says: &["cannot be removed", "`rjup password`"],
}

// Passwords.
test! {
    name: an_empty_rjup_password_variable,
    env: &[("RJUP_PASSWORD", "")],
    code: 4,
    says: &["RJUP_PASSWORD is set but empty", "unset it"],
}
test! {
    name: an_empty_password_on_stdin,
    args: &["up", "--password-stdin"],
    env: &[],
    stdin: Some("\n"),
    code: 4,
    says: &["empty", "non-empty"],
}
test! {
    name: no_password_and_no_terminal,
    env: &[],
    code: 4,
    says: &["no password yet", "RJUP_PASSWORD", "--password-stdin"],
}
test! {
    name: check_without_a_password,
    args: &["check"],
    env: &[],
    code: 4,
    says: &["RJUP_PASSWORD"],
}

// Ports, addresses and images: these need the engine.
test! {
    name: engine_a_bind_address_not_on_this_host,
    engine: true,
    args: &["up", "--bind", "10.255.255.254"],
    code: 3,
    says: &["not an address of this host", "0.0.0.0"],
}
test! {
    name: engine_an_image_that_cannot_be_pulled,
    engine: true,
    files: &[("rjup.yaml", "image: rjup-test/no-such-image:latest\n")],
    code: 7,
    says: &["pulling rjup-test/no-such-image:latest failed", "check the image name"],
}
test! {
    name: engine_an_image_without_jupyter,
    engine: true,
    files: &[("rjup.yaml", "image: python:3.13-slim\n")],
    code: 7,
    says: &["no `jupyter-lab` command", "remove `image:`"],
}
test! {
    name: engine_collaboration_with_a_pulled_image_lacking_it,
    engine: true,
    files: &[("rjup.yaml", "image: jupyter/minimal-notebook:latest\ncollaboration: true\n")],
    code: 7,
    says: &["lacks jupyter-collaboration", "remove `image:`", "`collaboration: true`"],
}
test! {
    name: an_allow_entry_that_is_no_network,
    files: &[("rjup.yaml", "allow:\n  - 10.0.0.0/8\n  - 10.0.0.0/33\n")],
    code: 3,
    says: &["rjup.yaml:3:5", "`allow` entry \"10.0.0.0/33\" is not an IP address or network", "10.0.0.0/8"],
}
test! {
    name: an_allow_entry_with_host_bits,
    files: &[("rjup.yaml", "allow: [192.168.1.23/24]\n")],
    code: 3,
    says: &["rjup.yaml:1:9", "past its /24 prefix", "192.168.1.0/24"],
}
test! {
    name: allow_that_is_not_a_list,
    files: &[("rjup.yaml", "allow: 10.0.0.0/8\n")],
    code: 3,
    says: &["rjup.yaml:1:8", "bad value for `allow`", "a list of addresses and networks"],
}
test! {
    name: collaboration_that_is_not_a_bool,
    files: &[("rjup.yaml", "collaboration: yes please\n")],
    code: 3,
    says: &["rjup.yaml:1:16", "bad value for `collaboration`", "true or false"],
}
test! {
    name: engine_logs_without_a_lab,
    engine: true,
    args: &["logs"],
    code: 11,
    says: &["does not exist", "rjup up"],
}
test! {
    name: an_environment_yml_that_is_not_yaml,
    files: &[("environment.yml", "dependencies:\n  - numpy\n  bad: [\n")],
    code: 3,
    says: &["environment.yml:", "not an environment file conda could read", "`dependencies:`"],
}
test! {
    name: an_environment_yml_pinning_a_python_jupyterlab_cannot_run,
    files: &[("binder/environment.yml", "dependencies:\n  - python=3.6\n  - numpy\n")],
    code: 3,
    says: &["binder/environment.yml", "`python=3.6`", "JupyterLab needs Python 3.9 or later"],
}
test! {
    name: locked_and_frozen_together,
    args: &["up", "--locked", "--frozen"],
    code: 2,
    says: &["--locked", "--frozen"],
}
// Other verbs.
test! {
    name: check_of_a_notebook_that_does_not_exist,
    args: &["check", "nope.ipynb"],
    code: 3,
    says: &["notebook nope.ipynb (", "is not a file in the project", "check its path, relative to the current directory"],
}
test! {
    name: check_of_a_notebook_outside_the_project,
    args: &["check", "../nope.ipynb"],
    code: 3,
    says: &["notebook ../nope.ipynb (", "is outside the project", "move it into the project"],
}
test! {
    name: engine_check_without_a_lab,
    engine: true,
    args: &["check"],
    env: &[("RJUP_PASSWORD", "a password")],
    code: 11,
    says: &["is not running", "rjup up"],
}
test! {
    name: lock_with_a_pulled_image,
    args: &["lock"],
    files: &[("rjup.yaml", "image: jupyter/minimal-notebook:latest\n")],
    code: 3,
    says: &["nothing for rjup lock to pin", "remove `image:`"],
}
