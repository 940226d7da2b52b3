"""Scenarios: what they are (`model`, `timeline`), how files are read with their lines
(`yaml_lines`), validated and compiled (`compile`), and found in the library (`library`)."""
