//! Redirect-URI safety checks, allow-list patterns and matching (DESIGN.md's contract).
//! Pure: no I/O.
