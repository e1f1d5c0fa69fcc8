//! Inputs the fuzzer found that once crashed or were misjudged, minimized, each a named
//! test (beside the seeds proptest keeps in `proptest-regressions/`).
