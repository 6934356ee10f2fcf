//! Bad input, table-driven: every case gets its exact exit code, one message that names
//! the problem and the fix, and leaves no container, image or state behind.

use crate::util::*;

struct Case {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    stdin: Option<&'static str>,
    code: i32,
    /// Substrings the message must hold: what is wrong, and how to fix it.
    says: &'static [&'static str],
    docker: bool,
}

const PW: &[(&str, &str)] = &[("RJUP_PASSWORD", "a password")];

const fn case(
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    code: i32,
    says: &'static [&'static str],
) -> Case {
    Case {
        name,
        files,
        args: &["up"],
        env: PW,
        stdin: None,
        code,
        says,
        docker: false,
    }
}

const CASES: &[Case] = &[
    // rjup.yaml: keys, types and ranges, with file:line:column.
    case(
        "unknown key",
        &[("rjup.yaml", "prot: 8888\n")],
        3,
        &[
            "rjup.yaml:1:1",
            "unknown key `prot`",
            "did you mean `port`?",
        ],
    ),
    case(
        "nested unknown key",
        &[("rjup.yaml", "build:\n  pakages: [x]\n")],
        3,
        &["rjup.yaml:2:3", "did you mean `packages`?"],
    ),
    case(
        "port not a number",
        &[("rjup.yaml", "port: eighty\n")],
        3,
        &["rjup.yaml:1:7", "`port`", "1 to 65535"],
    ),
    case(
        "port zero",
        &[("rjup.yaml", "port: 0\n")],
        3,
        &["rjup.yaml:1:7", "out of range", "remove the key"],
    ),
    case(
        "port too large",
        &[("rjup.yaml", "port: 70000\n")],
        3,
        &["rjup.yaml:1:7", "1 to 65535"],
    ),
    case(
        "bind not an address",
        &[("rjup.yaml", "bind: localhost\n")],
        3,
        &["rjup.yaml:1:7", "not an IP address", "0.0.0.0"],
    ),
    case(
        "name with spaces",
        &[("rjup.yaml", "name: My Lab\n")],
        3,
        &["rjup.yaml:1:7", "lowercase", "use `mylab`"],
    ),
    case(
        "image url",
        &[("rjup.yaml", "image: https://hub.example/x\n")],
        3,
        &["URL scheme", "repository[:tag]"],
    ),
    case(
        "image uppercase",
        &[("rjup.yaml", "image: Jupyter/Lab\n")],
        3,
        &["must be lowercase"],
    ),
    case(
        "image and build",
        &[("rjup.yaml", "image: x\nbuild:\n  base: y\n")],
        3,
        &["rjup.yaml:1:8", "exclude each other", "remove one"],
    ),
    case(
        "package is an option",
        &[(
            "rjup.yaml",
            "build:\n  packages: ['--index-url=http://x']\n",
        )],
        3,
        &["rjup.yaml:2:", "not a requirement", "one package per entry"],
    ),
    case(
        "reserved env",
        &[("rjup.yaml", "env:\n  HOME: /x\n")],
        3,
        &["cannot set HOME", "remove it"],
    ),
    case(
        "env name",
        &[("rjup.yaml", "env:\n  1X: y\n")],
        3,
        &["not a variable name", "letters, digits"],
    ),
    case(
        "apt entry",
        &[("rjup.yaml", "build:\n  apt: ['jq; rm -rf /']\n")],
        3,
        &["rjup.yaml:2:", "not a Debian package name"],
    ),
    case(
        "tls mode",
        &[("rjup.yaml", "tls: please\n")],
        3,
        &["rjup.yaml:1:6", "not a TLS mode", "self-signed"],
    ),
    case(
        "tls files missing",
        &[("rjup.yaml", "tls:\n  cert: no.pem\n  key: no.key\n")],
        3,
        &["tls.cert", "cannot read", "PEM"],
    ),
    case(
        "memory amount",
        &[("rjup.yaml", "resources:\n  memory: lots\n")],
        3,
        &["rjup.yaml:2:11", "amount of memory", "4g"],
    ),
    case(
        "gpus value",
        &[("rjup.yaml", "gpus: some\n")],
        3,
        &["rjup.yaml:1:7", "`all`"],
    ),
    case(
        "notebook outside",
        &[("rjup.yaml", "check:\n  notebooks: [../x.ipynb]\n")],
        3,
        &["inside the project"],
    ),
    case(
        "yaml syntax",
        &[("rjup.yaml", "port: [1\n")],
        3,
        &["rjup.yaml:1:"],
    ),
    // Binder files.
    case(
        "apt.txt line",
        &[("apt.txt", "jq\nrm -rf /\n")],
        3,
        &[
            "apt.txt:2",
            "not a Debian package name",
            "one package per line",
        ],
    ),
    case(
        "runtime.txt",
        &[("runtime.txt", "r-4.2\n")],
        3,
        &["runtime.txt", "python-X.Y"],
    ),
    case(
        "start without exec",
        &[("start", "#!/bin/sh\necho hi\n")],
        3,
        &["start", "exec \"$@\""],
    ),
    case(
        "two binder dirs",
        &[("binder/apt.txt", "jq\n"), (".binder/apt.txt", "jq\n")],
        3,
        &["both binder/ and .binder/", "keep one"],
    ),
    case(
        "requirements override missing",
        &[("rjup.yaml", "build:\n  requirements: env/r.txt\n")],
        3,
        &["`build.requirements` names env/r.txt", "fix the path"],
    ),
    // Flags.
    Case {
        args: &["up", "--port", "0"],
        ..case("flag port zero", &[], 2, &["--port", "1..=65535"])
    },
    Case {
        args: &["up", "--port", "70000"],
        ..case("flag port too large", &[], 2, &["--port", "1..=65535"])
    },
    Case {
        args: &["up", "--bind", "my-server"],
        ..case("flag bind", &[], 2, &["--bind", "invalid IP address"])
    },
    Case {
        args: &["up", "--timeout", "soon"],
        ..case(
            "flag timeout",
            &[],
            2,
            &["--timeout", "invalid value 'soon'"],
        )
    },
    Case {
        args: &["up", "--prot", "1"],
        ..case("flag typo", &[], 2, &["--prot", "--port"])
    },
    Case {
        args: &["-C", "/nonexistent/project", "up"],
        ..case(
            "missing project dir",
            &[],
            3,
            &["/nonexistent/project", "not usable"],
        )
    },
    Case {
        args: &["-C", "rjup.yaml", "up"],
        ..case(
            "project is a file",
            &[("rjup.yaml", "")],
            3,
            &["not a directory", "project's directory"],
        )
    },
    // Passwords.
    Case {
        env: &[("RJUP_PASSWORD", "")],
        ..case(
            "empty env password",
            &[],
            4,
            &["RJUP_PASSWORD is set but empty", "unset it"],
        )
    },
    Case {
        args: &["up", "--password-stdin"],
        env: &[],
        stdin: Some("\n"),
        ..case("empty stdin password", &[], 4, &["empty", "non-empty"])
    },
    Case {
        env: &[],
        ..case(
            "no password and no terminal",
            &[],
            4,
            &["no password yet", "RJUP_PASSWORD", "--password-stdin"],
        )
    },
    Case {
        args: &["check"],
        env: &[],
        ..case("check without a password", &[], 4, &["RJUP_PASSWORD"])
    },
    // Ports, addresses and images: these need the engine.
    Case {
        args: &["up", "--bind", "10.255.255.254"],
        docker: true,
        ..case(
            "bind not on this host",
            &[],
            3,
            &["not an address of this host", "0.0.0.0"],
        )
    },
    Case {
        docker: true,
        ..case(
            "image cannot be pulled",
            &[("rjup.yaml", "image: rjup-test/no-such-image:latest\n")],
            7,
            &[
                "pulling rjup-test/no-such-image:latest failed",
                "check the image name",
            ],
        )
    },
    Case {
        docker: true,
        ..case(
            "image without jupyter",
            &[("rjup.yaml", "image: python:3.13-slim\n")],
            7,
            &["no `jupyter` command", "remove `image:`"],
        )
    },
    Case {
        args: &["logs"],
        docker: true,
        ..case(
            "logs without a lab",
            &[],
            11,
            &["does not exist", "rjup up"],
        )
    },
    Case {
        args: &["check", "nope.ipynb"],
        docker: false,
        ..case(
            "check a missing notebook",
            &[],
            3,
            &[
                "notebook nope.ipynb is not in the project",
                "relative to the project",
            ],
        )
    },
    Case {
        args: &["lock"],
        ..case(
            "lock a pulled image",
            &[("rjup.yaml", "image: jupyter/minimal-notebook:latest\n")],
            3,
            &["nothing for rjup lock to pin", "remove `image:`"],
        )
    },
];

#[test]
#[ignore = "needs a Docker engine: run ../shared/docker/stand-ins.sh, then cargo test -- --include-ignored"]
fn every_bad_input_gets_its_code_a_fix_and_leaves_nothing_behind() {
    assert!(CASES.len() >= 25, "the suite must cover at least 25 cases");
    let _engine = engine();
    let docker = true;
    let mut failures = Vec::new();
    let mut ran = 0;
    for (i, case) in CASES.iter().enumerate() {
        if case.docker && !docker {
            continue;
        }
        let project = Project::from_example("", &format!("bad{i}"));
        for (path, text) in case.files {
            if let Some(parent) = std::path::Path::new(path).parent() {
                std::fs::create_dir_all(project.dir.join(parent)).unwrap();
            }
            project.write(path, text);
        }
        let port = free_port().to_string();
        let mut args: Vec<&str> = case.args.to_vec();
        if args == ["up"] {
            args.extend(["--port", port.as_str()]);
        }
        let before = snapshot(&project.dir);
        let out = project.rjup(&args, case.env, case.stdin);
        ran += 1;
        let err = stderr(&out);
        let mut problems = Vec::new();
        if out.status.code() != Some(case.code) {
            problems.push(format!(
                "exit code {:?}, expected {}",
                out.status.code(),
                case.code
            ));
        }
        for needle in case.says {
            if !err.contains(needle) {
                problems.push(format!("message lacks {needle:?}"));
            }
        }
        let error_lines: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("rjup: error: "))
            .collect();
        if case.code != 2
            && (error_lines.len() != 1 || !case.says.iter().all(|s| error_lines[0].contains(s)))
        {
            problems.push(format!(
                "the problem and its fix are not on one error line: {error_lines:?}"
            ));
        }
        if docker
            && (inspect(&project.container()).is_some()
                || !containers_named(&project.name).is_empty())
        {
            problems.push("a container was left".into());
        }
        if docker && !images_named(&format!("rjup/{}", project.name)).is_empty() {
            problems.push("an image was left".into());
        }
        if project.state_dir().is_some() {
            problems.push("state was left".into());
        }
        if snapshot(&project.dir) != before {
            problems.push("a project file was touched".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {}",
                case.name,
                problems.join("; "),
                err.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} bad-input cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{ran} bad-input cases: {ran} passed, 0 failed");
}
