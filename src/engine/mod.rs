//! engine layer (filled by its issue).
