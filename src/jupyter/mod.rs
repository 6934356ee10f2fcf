//! What runs inside the lab besides JupyterLab itself: the Jupyter Server config rjup
//! injects (real Python, under this directory) and the named accounts it reads.

pub mod accounts;
pub mod server_config;
