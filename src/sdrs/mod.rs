//! sdrs layer (filled by its issue).
