"""The AIOps platform: what every use-case project pins instead of copying (docs/design.md)."""
