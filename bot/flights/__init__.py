"""The flight path.

- `bot.flights.pollers`: poll OpenSky and ADS-B sources, store flights, evaluate route rules.
- `bot.flights.plan`: which OpenSky days to fetch, and how complete a route's window is.
- `bot.flights.routes`: when a route rule fires, and what its alert says.
- `bot.flights.evidence`: a route's flights per day, week or month with their coverage
  (`vedette route`, `/route`).
"""
