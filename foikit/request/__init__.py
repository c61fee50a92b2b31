"""The request: its params, the disclosure policy and the dataset's dictionary."""
