//! store layer (filled by its issue).
