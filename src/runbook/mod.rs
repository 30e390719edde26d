//! runbook layer (filled by its issue).
