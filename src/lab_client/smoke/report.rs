//! What `rjup check` reports: each step, timed, with what went wrong or what was seen;
//! as text, JSON, or JUnit XML for CI systems.

use std::time::{Duration, Instant};

use super::StepError;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub name: String,
    pub ok: bool,
    pub seconds: f64,
    /// What went wrong, or what was seen when it went right.
    pub detail: String,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub ok: bool,
    pub steps: Vec<Step>,
}

impl Report {
    pub fn push(
        &mut self,
        name: impl Into<String>,
        started: Instant,
        result: Result<String, String>,
    ) -> bool {
        let ok = result.is_ok();
        self.steps.push(Step {
            name: name.into(),
            ok,
            seconds: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            detail: result.unwrap_or_else(|e| e),
        });
        self.ok = self.steps.iter().all(|s| s.ok);
        ok
    }

    pub(super) fn record(
        &mut self,
        name: impl Into<String>,
        started: Instant,
        result: Result<String, StepError>,
    ) -> bool {
        self.push(name, started, result.map_err(|e| e.to_string()))
    }
}

/// JUnit XML, which CI systems read as test results.
pub fn junit(report: &Report, suite: &str) -> anyhow::Result<String> {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    // A hand-edited report could hold a negative time; that is no reason to fail.
    let time = |seconds: f64| Duration::try_from_secs_f64(seconds).unwrap_or_default();
    let mut cases = TestSuite::new(suite);
    for step in &report.steps {
        let status = if step.ok {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(step.detail.lines().next().unwrap_or(""))
                .set_description(step.detail.as_str());
            status
        };
        let mut case = TestCase::new(step.name.as_str(), status);
        case.set_classname(suite).set_time(time(step.seconds));
        cases.add_test_case(case);
    }
    let total = time(report.steps.iter().map(|s| s.seconds).sum());
    cases.set_time(total);
    let mut xml = quick_junit::Report::new(suite);
    xml.set_time(total).add_test_suite(cases);
    Ok(xml.to_string()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_is_ok_only_when_every_step_is() {
        let mut r = Report {
            ok: true,
            steps: vec![],
        };
        r.push("login", Instant::now(), Ok("in".into()));
        assert!(r.ok);
        r.push("execute code", Instant::now(), Err("boom".into()));
        assert!(!r.ok);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["steps"][1]["name"], "execute code");
        assert!(v["steps"][0]["seconds"].is_number());
    }

    #[test]
    fn junit_marks_failures_and_escapes_text() {
        let mut r = Report {
            ok: true,
            steps: vec![],
        };
        r.push("login", Instant::now(), Ok("in".into()));
        r.push(
            "notebook a<b>.ipynb",
            Instant::now(),
            Err("cell 2 raised \"x\" & y".into()),
        );
        r.push(
            "execute code",
            Instant::now(),
            Err("the kernel said \u{1b}[31mno\u{1b}[0m\u{0}\u{7}".into()),
        );
        let xml = junit(&r, "rjup check demo").unwrap();
        assert!(xml.contains("tests=\"3\""), "{xml}");
        assert!(xml.contains("failures=\"2\""), "{xml}");
        assert!(xml.contains("name=\"notebook a&lt;b&gt;.ipynb\""), "{xml}");
        assert!(
            xml.contains("<failure message=\"cell 2 raised &quot;x&quot; &amp; y\">"),
            "{xml}"
        );
        // XML 1.0 cannot carry control characters at all, escaped or not.
        assert!(xml.contains("the kernel said no"), "{xml}");
        assert!(!xml.contains('\u{7}') && !xml.contains('\u{0}') && !xml.contains('\u{1b}'));
    }
}
