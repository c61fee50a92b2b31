"""Opening the data: files, embedded datasets and databases, checked against the dictionary."""
