//! Ghost-probe findings: suspicious traffic found in the click stream (table `probe_findings`).
