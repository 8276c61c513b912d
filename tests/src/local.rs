//! The in-process cluster (filled in when master and agent land).
