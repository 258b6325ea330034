"""pytest plugin entry point (registered through ``pytest11``); behaviour lands in later modules."""
