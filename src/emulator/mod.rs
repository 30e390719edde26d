//! emulator layer (filled by its issue).
