//! Integration tests of the console over real HTTP: its security headers, cookies and CSRF
//! refusals, its config validation, and its answer when the API is unreachable. The pages over
//! a real shortener are the browser suite's (ops/browser/).

mod pages;
