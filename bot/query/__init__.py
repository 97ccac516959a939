"""The keyword query language of `rules.toml`.

- `bot.query.parse`: the syntax tree and `parse_query`.
- `bot.query.match`: the `Matcher`, all rules compiled together and matched against one text.
- `bot.query.textnorm`: normalisation and tokenisation shared by queries and the texts they match.
"""
