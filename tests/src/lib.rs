//! Workspace-wide tests of Bulwark. The test targets live in `tests/`; this library is empty
//! so the package can be a workspace member.
