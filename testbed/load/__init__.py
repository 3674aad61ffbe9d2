"""Load: many endpoints registering or calling at a rate, with counts, rates and latencies."""
