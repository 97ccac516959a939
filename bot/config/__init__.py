"""The configuration: `rules.toml` read into frozen values.

- `bot.config.types`: the values a validated file becomes (`Config`, sources, rules) and the
  configuration errors; every other module imports config types from here.
- `bot.config.validate`: `load_config`, the validator and `parse_duration`.
- `bot.config.flights`: the validator's checks of flight sources and route rules.
- `bot.config.tomllines`: line numbers for TOML keys, so that errors say `file:line`.
"""
