"""Running a response: execute, workspace, manifest and signature, snapshot, record, verify."""
