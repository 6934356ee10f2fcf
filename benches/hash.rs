//! P6: hashing a password with Jupyter Server's argon2 parameters. Run by
//! `scripts/bench.py`, or alone: `cargo bench --bench hash -- 20`.

use std::time::Instant;

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let secret = rjup::password::Secret::new("benchmark password".to_string()).unwrap();
    let mut seconds = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let hash = rjup::password::hash(&secret).unwrap();
        seconds.push(start.elapsed().as_secs_f64());
        assert!(hash.starts_with("argon2:$argon2id$v=19$m=10240,t=10,p=8$"));
    }
    let text: Vec<String> = seconds.iter().map(|s| format!("{s:.6}")).collect();
    println!("argon2-seconds {}", text.join(" "));
}
