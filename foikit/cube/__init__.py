"""The count cube: its backend-neutral spec, the engine that counts it, and tables as views of it."""
