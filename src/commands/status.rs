use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::cli::StatusArgs;
use crate::engine::Engine;
use crate::lab::label;
use crate::net;
use crate::settings::{self, Overrides};
use crate::state::ProjectState;

pub async fn run(project: Option<&Path>, args: StatusArgs) -> anyhow::Result<()> {
    let spec = settings::resolve(project, Overrides::default())?;
    let engine = Engine::connect().await?;
    let name = spec.container_name();
    let container = engine.inspect(&name).await?;
    if let Some(c) = &container {
        super::up::check_owner(c, &spec)?;
    }
    let labels = container
        .as_ref()
        .and_then(|c| c.config.as_ref())
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    let docker_state = container
        .as_ref()
        .and_then(|c| c.state.clone())
        .unwrap_or_default();
    let state = match (&container, docker_state.running) {
        (None, _) => "absent",
        (Some(_), Some(true)) if docker_state.restarting != Some(true) => "running",
        (Some(_), _) => "stopped",
    };
    let port: Option<u16> = match labels.get(label::PORT) {
        Some(p) => p.parse().ok(),
        None => ProjectState::for_project(&spec.dir, &spec.name)?.port()?,
    };
    let bind = labels
        .get(label::BIND)
        .and_then(|b| b.parse().ok())
        .unwrap_or(spec.bind);
    let urls = match (state, port) {
        ("running", Some(port)) => net::urls(bind, port),
        _ => Vec::new(),
    };
    let image = container
        .as_ref()
        .and_then(|c| c.config.as_ref())
        .and_then(|c| c.image.clone());
    let started_at = docker_state.started_at.filter(|_| state == "running");
    let uptime = started_at
        .as_deref()
        .and_then(unix_seconds)
        .and_then(|start| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
            u64::try_from(now - start).ok()
        });

    if args.json {
        let report = json!({
            "name": spec.name,
            "state": state,
            "urls": urls,
            "port": port,
            "bind": bind.to_string(),
            "container": name,
            "container_id": container.as_ref().and_then(|c| c.id.clone()),
            "image": image,
            "image_id": container.as_ref().and_then(|c| c.image.clone()),
            "project": spec.dir.display().to_string(),
            "started_at": started_at,
            "uptime_seconds": uptime,
        });
        println!("{report}");
        return Ok(());
    }
    println!("Lab \"{}\": {state}", spec.name);
    println!("  project:   {}", spec.dir.display());
    if let Some(file) = &spec.config_file {
        println!("  config:    {}", file.display());
    }
    if container.is_some() {
        println!("  container: {name}");
        if let Some(image) = &image {
            println!("  image:     {image}");
        }
    }
    if let Some(seconds) = uptime {
        println!("  uptime:    {}", human_duration(seconds));
    }
    for (i, url) in urls.iter().enumerate() {
        println!(
            "  {} {url}",
            if i == 0 { "urls:     " } else { "          " }
        );
    }
    if state != "running" {
        println!("  Start it with `rjup up`");
    }
    Ok(())
}

/// Seconds since the epoch of Docker's RFC 3339 UTC timestamps (`2026-11-25T17:40:01.12Z`).
fn unix_seconds(timestamp: &str) -> Option<i64> {
    let (date, time) = timestamp.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z');
    let time = time.split(['.', '+']).next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    // Days from civil, after Howard Hinnant.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

fn human_duration(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} days {} h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_timestamps_convert_to_unix_time() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            unix_seconds("2026-11-25T17:40:01.123456789Z"),
            Some(1_795_628_401)
        );
        assert_eq!(unix_seconds("garbage"), None);
    }

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human_duration(5), "5 s");
        assert_eq!(human_duration(3 * 3600 + 120), "3 h 2 min");
        assert_eq!(human_duration(2 * 86_400 + 3600), "2 days 1 h");
    }
}
