"""Unit tests of the rjup_lab package's pure rules, run by `cargo test` (server_config.rs)
with `python3 -m unittest`; they need neither Jupyter Server nor tornado."""
