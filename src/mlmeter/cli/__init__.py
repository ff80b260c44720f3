"""Command line: thin wrappers that build settings, call the library and render what it returns."""
