"""The disclosure ledger: every published cell on record, and the joint audit against it."""
