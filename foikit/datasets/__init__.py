"""The synthetic datasets that ship as defaults, and their generators."""
