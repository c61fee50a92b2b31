"""What a response publishes: published.csv, spreadsheets, letter, charts; the leak check."""
